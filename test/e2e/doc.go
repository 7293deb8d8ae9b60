// Package e2e drives the spoke agent end to end with the kubectl plugin, as a user would: a
// full local control plane (pods are scheduled onto kwok nodes and become Ready), the Rollout
// controller running in the test process, and `kubectl flotilla` commands called in-process
// against the cluster's kubeconfig. It has only tests.
package e2e
