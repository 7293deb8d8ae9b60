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

import "testing"

// VendorCRDDir is a folder for EnvOptions.CRDDirs with every CRD of the given files of
// module@version (globs allowed, as in ModuleFiles; see CRDDir for what is kept): the way to
// load a traffic router's CRDs from its own Go module.
func VendorCRDDir(t testing.TB, module, version string, files ...string) string {
	t.Helper()
	return CRDDir(t, ModuleFiles(t, module, version, files...))
}
