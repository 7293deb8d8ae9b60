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

package ambassador

import "testing"

func TestReplaceService(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"web-stable", "web-canary", true},
		{"web-stable:8080", "web-canary:8080", true},
		{"web-stable.shop", "web-canary.shop", true},
		{"web-stable.shop.svc.cluster.local:80", "web-canary.shop.svc.cluster.local:80", true},
		{"http://web-stable.shop:80", "http://web-canary.shop:80", true},
		{"https://web-stable/", "https://web-canary/", true},
		{"web-stable-admin:80", "", false}, // another Service whose name starts alike
		{"api.web-stable:80", "", false},   // web-stable is a namespace here
		{"", "", false},
	} {
		got, ok := replaceService(tc.in, "web-stable", "web-canary")
		if got != tc.want || ok != tc.ok {
			t.Errorf("replaceService(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
