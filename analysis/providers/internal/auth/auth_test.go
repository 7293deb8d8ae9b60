package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestClientCredentialsInBody covers token endpoints that refuse HTTP basic client
// authentication and take client_id and client_secret in the form instead, and token
// renewal once the cached token is about to expire.
func TestClientCredentialsInBody(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		_ = r.ParseForm()
		if _, _, ok := r.BasicAuth(); ok || r.PostForm.Get("client_secret") != "sec" || r.PostForm.Get("client_id") != "id" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "t", "expires_in": "60"})
	}))
	defer srv.Close()
	ts := NewTokenSource()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts.now = func() time.Time { return clock }
	a := &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: srv.URL, ClientID: "id", ClientSecret: "sec"}}
	apply := func() string {
		req, _ := http.NewRequest(http.MethodGet, "http://example/", nil)
		if err := ts.Apply(context.Background(), srv.Client(), a, req); err != nil {
			t.Fatal(err)
		}
		return req.Header.Get("Authorization")
	}
	if got := apply(); got != "Bearer t" || calls != 2 {
		t.Fatalf("Authorization = %q after %d calls, want Bearer t after a basic try and a body try", got, calls)
	}
	apply()
	if calls != 2 {
		t.Errorf("a fresh token was fetched again (%d calls)", calls)
	}
	clock = clock.Add(45 * time.Second) // within the expiry margin of the 60s token
	apply()
	if calls != 3 {
		t.Errorf("an expiring token was not renewed, with the remembered body style (%d calls)", calls)
	}
}
