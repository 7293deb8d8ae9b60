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

// Package harness starts real Kubernetes control planes for Flotilla's tests and for the
// local fleet (hack/fleet), from the binaries that `make k8s-bins` builds.
//
// Two tiers:
//
//   - API-only: [NewEnv] wraps controller-runtime's envtest (etcd + kube-apiserver), installs
//     CRDs and hands back a *rest.Config and a client. Good for reconciler tests.
//   - Full clusters: [StartFleet] (or [NewFleet] in a test) starts one etcd and N clusters
//     that share it, each with kube-apiserver, kube-controller-manager, kube-scheduler and kwok
//     with Ready fake nodes, so pods really get scheduled and become Ready.
//
// Every child process runs in its own process group with Pdeathsig=SIGKILL, so nothing
// outlives the process that started it, and is stopped by pid (SIGTERM, then SIGKILL) and
// reaped. A SIGINT/SIGTERM handler stops everything before the test binary exits. Each
// process logs to its own file; tests keep the log directory when they fail and print its path.
//
// Binaries are looked up in KUBEBUILDER_ASSETS, else in <repo root>/bin/k8s/<version>. Tests
// fail (never skip) when they are missing.
package harness
