package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	r := NewRedactor("p@ss word", "")
	err := r.Error(fmt.Errorf("login p@ss word failed at ?pw=p%%40ss+word and /p@ss%%20word: %w", context.DeadlineExceeded))
	if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), "p%40ss") {
		t.Errorf("not redacted: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is lost the cause: %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("a redacted error unwraps to its unredacted cause")
	}
	if NewRedactor().Error(nil) != nil {
		t.Error("nil error became non-nil")
	}
}

func TestDoStripsQueryAndReportsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("x", 1000), http.StatusTeapot)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/path?token=s3cret", nil)
	_, err := Do(srv.Client(), req)
	var serr *StatusError
	if !errors.As(err, &serr) || serr.StatusCode != http.StatusTeapot || len(serr.Snippet) > snippetLen+3 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error has the query string: %v", err)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://user:pw@127.0.0.1:1/p?token=s3cret", nil)
	if _, err := Do(http.DefaultClient, req); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pw@") {
		t.Errorf("transport error = %v", err)
	}
}

func TestInsecureClientIsACopy(t *testing.T) {
	base := &http.Client{}
	c := NewClients(base)
	insecure, err := c.Get(true)
	if err != nil {
		t.Fatal(err)
	}
	if insecure == base || base.Transport != nil || !insecure.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify {
		t.Error("the insecure client is not a separate, insecure copy")
	}
	if same, _ := c.Get(false); same != base {
		t.Error("the secure client is not the base client")
	}
}
