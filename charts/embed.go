// Package charts embeds the CRDs of both charts, so that tools (the kubectl plugin's lint)
// can validate manifests offline against exactly what the API server installs.
package charts

import "embed"

// CRDs holds flotilla-spoke/crds/*.yaml and flotilla-hub/crds/*.yaml.
//
//go:embed flotilla-spoke/crds/*.yaml flotilla-hub/crds/*.yaml
var CRDs embed.FS
