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

import (
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client rate limits for everything the harness hands out: tests are allowed to hammer
// their own API servers.
const (
	clientQPS   = 1000
	clientBurst = 2000
)

// AdminKubeconfig is a self-contained kubeconfig (certificates inline) for the admin user
// of a cluster whose API server listens at server. The cluster, user and context are all
// named name, so it stays readable when merged with others.
func AdminKubeconfig(name, server string, pki *PKI) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: pki.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: pki.AdminCertData,
		ClientKeyData:         pki.AdminKeyData,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.Write(*cfg)
}

// KubeconfigFromREST is a self-contained kubeconfig for cfg (client certificate or token,
// certificates inline), for example to register an API-only Env as a hub's member.
func KubeconfigFromREST(cfg *rest.Config) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["env"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["env"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["env"] = &clientcmdapi.Context{Cluster: "env", AuthInfo: "env"}
	kc.CurrentContext = "env"
	return clientcmd.Write(*kc)
}

// RESTConfigFromKubeconfig parses a kubeconfig into a *rest.Config with the harness's
// generous rate limits.
func RESTConfigFromKubeconfig(kubeconfig []byte) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	return cfg, nil
}
