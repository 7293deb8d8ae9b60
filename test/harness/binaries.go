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
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the Go module whose root [RepoRoot] looks for.
const ModulePath = "github.com/flotilla-io/flotilla"

// DefaultKubeVersion is the Kubernetes version whose binaries are used when neither
// KUBEBUILDER_ASSETS nor KUBE_VERSION says otherwise.
const DefaultKubeVersion = "v1.36.3"

// Names of the binaries the harness runs.
const (
	BinEtcd              = "etcd"
	BinAPIServer         = "kube-apiserver"
	BinControllerManager = "kube-controller-manager"
	BinScheduler         = "kube-scheduler"
	BinKubectl           = "kubectl"
	BinKwok              = "kwok"
)

// Binaries is a folder holding the control-plane binaries.
type Binaries struct {
	// Dir is the folder.
	Dir string
	// Source says where Dir came from, for error messages.
	Source string
}

// FindBinaries locates the binaries: KUBEBUILDER_ASSETS if set, else
// <repo root>/bin/k8s/<KUBE_VERSION or DefaultKubeVersion>. It checks that every name in
// required is an executable file there and returns an error that says to run
// `make k8s-bins` if one is not.
func FindBinaries(required ...string) (Binaries, error) {
	var b Binaries
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		b = Binaries{Dir: dir, Source: "KUBEBUILDER_ASSETS"}
	} else {
		root, err := RepoRoot()
		if err != nil {
			return Binaries{}, fmt.Errorf("locating control-plane binaries: %w (or set KUBEBUILDER_ASSETS)", err)
		}
		version := os.Getenv("KUBE_VERSION")
		if version == "" {
			version = DefaultKubeVersion
		}
		b = Binaries{Dir: filepath.Join(root, "bin", "k8s", version), Source: "repo default"}
	}
	if err := b.Require(required...); err != nil {
		return Binaries{}, err
	}
	return b, nil
}

// Path is the full path of the named binary.
func (b Binaries) Path(name string) string { return filepath.Join(b.Dir, name) }

// Require checks that every named binary is an executable file in b.Dir.
func (b Binaries) Require(names ...string) error {
	var missing []string
	for _, name := range names {
		fi, err := os.Stat(b.Path(name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("control-plane binaries missing from %s (%s): %s; run `make k8s-bins`",
			b.Dir, b.Source, strings.Join(missing, ", "))
	}
	return nil
}

// RepoRoot walks up from the working directory to the folder whose go.mod declares
// ModulePath.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module " + ModulePath + " above the working directory")
		}
		dir = parent
	}
}

func isModuleRoot(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// CRD folders of the project, relative to the repo root.
const (
	// SpokeCRDDir holds the member-cluster CRDs (group rollouts.flotilla.dev).
	SpokeCRDDir = "charts/flotilla-spoke/crds"
	// HubCRDDir holds the hub CRDs (group fleet.flotilla.dev).
	HubCRDDir = "charts/flotilla-hub/crds"
)

// RepoPath joins rel to the repo root.
func RepoPath(rel string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, rel), nil
}
