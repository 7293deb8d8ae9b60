/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package harness

// controllerManagerSpec is the command line of the cluster's kube-controller-manager.
//
// The node lifecycle controller stays on: admission taints every new Node
// node.kubernetes.io/not-ready and only that controller lifts the taint once kwok reports
// the node Ready. The grace period is long because kwok's heartbeats fall behind under
// load on small machines, and a missed heartbeat would mark every pod NotReady. nodeipam
// is off: the clusters have no pod CIDR to hand out.
func (c *Cluster) controllerManagerSpec() ProcessSpec {
	return ProcessSpec{
		Name:    c.Name + "/" + BinControllerManager,
		Path:    c.fleet.bins.Path(BinControllerManager),
		LogFile: c.logFile(BinControllerManager),
		Args: []string{
			"--kubeconfig=" + c.KubeconfigPath,
			"--cluster-name=" + c.Name,
			"--leader-elect=false",
			"--secure-port=0",
			"--controllers=*,-nodeipam",
			"--service-account-private-key-file=" + c.PKI.SAKey,
			"--root-ca-file=" + c.PKI.CACert,
			"--cluster-signing-cert-file=" + c.PKI.CACert,
			"--cluster-signing-key-file=" + c.PKI.CAKey,
			"--node-monitor-grace-period=10m",
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
		},
	}
}

// schedulerSpec is the command line of the cluster's kube-scheduler.
func (c *Cluster) schedulerSpec() ProcessSpec {
	return ProcessSpec{
		Name:    c.Name + "/" + BinScheduler,
		Path:    c.fleet.bins.Path(BinScheduler),
		LogFile: c.logFile(BinScheduler),
		Args: []string{
			"--kubeconfig=" + c.KubeconfigPath,
			"--leader-elect=false",
			"--secure-port=0",
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
		},
	}
}
