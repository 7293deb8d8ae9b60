package cli

import (
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flotilla-io/flotilla/internal/version"
)

var registerBuildInfo sync.Once

// RegisterBuildInfo adds flotilla_build_info, a constant 1 whose labels say which build of
// which program is running, to the metrics every manager serves. Dashboards join on it to
// tell agent versions apart across a fleet.
func RegisterBuildInfo(program string) {
	registerBuildInfo.Do(func() {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_build_info",
			Help: "A constant 1, labelled with the program, version, commit and Go version of this process.",
		}, []string{"program", "version", "commit", "goversion"})
		g.WithLabelValues(program, version.Version, version.Commit, runtime.Version()).Set(1)
		metrics.Registry.MustRegister(g)
	})
}
