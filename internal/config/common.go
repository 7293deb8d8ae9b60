package config

import (
	"fmt"
	"net"
)

// Keys of the settings that the hub and the spoke share.
const (
	KeyLogLevel          = "log-level"
	KeyLogFormat         = "log-format"
	KeyKubeconfig        = "kubeconfig"
	KeyMetricsAddress    = "metrics-bind-address"
	KeyHealthProbeAddres = "health-probe-bind-address"
	KeyKubeAPIQPS        = "kube-api-qps"
	KeyKubeAPIBurst      = "kube-api-burst"
)

// Common are the settings of every long-running Flotilla process.
func Common() []Setting {
	return []Setting{
		{Key: KeyLogLevel, Default: "info", Usage: "least severe log level to write", OneOf: []string{"debug", "info", "error"}},
		{Key: KeyLogFormat, Default: "json", Usage: "log line format", OneOf: []string{"json", "text"}},
		{Key: KeyKubeconfig, Usage: "kubeconfig of the cluster to run against; empty means in-cluster config or $KUBECONFIG"},
		{Key: KeyMetricsAddress, Default: ":8080", Usage: "address the Prometheus metrics endpoint listens on; 0 turns it off", Check: addressOrZero},
		{Key: KeyHealthProbeAddres, Default: ":8081", Usage: "address the /healthz and /readyz endpoints listen on; 0 turns them off", Check: addressOrZero},
		{Key: KeyKubeAPIQPS, Kind: Int, Default: "200", Usage: "requests per second this process may send to the Kubernetes API server (client-side limit)", Check: Positive},
		{Key: KeyKubeAPIBurst, Kind: Int, Default: "400", Usage: "requests this process may send in a burst above kube-api-qps", Check: Positive},
	}
}

// addressOrZero accepts host:port (the host may be empty) or "0".
func addressOrZero(v any) error {
	s, _ := v.(string)
	if s == "0" {
		return nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return fmt.Errorf("want host:port (such as :8080 or 127.0.0.1:8080) or 0")
	}
	return nil
}

// Positive refuses a whole number below 1.
func Positive(v any) error {
	if n, _ := v.(int); n < 1 {
		return fmt.Errorf("must be 1 or more")
	}
	return nil
}
