// Package httpapi is the plain net/http plumbing that the metric providers and the AWS
// clients share: sending a request with a timeout, reading a bounded body, turning a non-2xx
// status into an error, and keeping secret values and URL query strings out of error
// messages.
package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxBody is the largest response body a provider reads; a larger one is an error rather
// than a measurement taken from a truncated document.
const MaxBody = 16 << 20

// snippetLen bounds how much of an error response ends up in an error message.
const snippetLen = 300

// Response is a response whose body was read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// StatusError is a response with a status outside 2xx.
type StatusError struct {
	// Request names the request, as "GET http://host/path" (no query string).
	Request string
	// StatusCode is the HTTP status.
	StatusCode int
	// Snippet is the beginning of the body, for the message.
	Snippet string
	// Body is the whole body, for providers that read the back end's own error format.
	Body []byte
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d %s", e.Request, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Snippet != "" {
		msg += ": " + e.Snippet
	}
	return msg
}

// Describe names a request for error messages: method, scheme, host and path, without the
// query string or user info, which may carry credentials.
func Describe(req *http.Request) string {
	return req.Method + " " + StripURL(req.URL)
}

// StripURL renders u without its query string, fragment and user info.
func StripURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// Do sends req with client and reads the whole response. It returns an error for a failed
// round trip (connection refused, timeout), an oversized body, and any status outside 2xx
// (a *StatusError). Error messages never include the query string of the URL.
func Do(client *http.Client, req *http.Request) (*Response, error) {
	resp, err := client.Do(req) //nolint:gosec // the URL is the metric's back end, by design
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%s: %w", Describe(req), err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", Describe(req), err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%s: response larger than %d bytes", Describe(req), MaxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &StatusError{Request: Describe(req), StatusCode: resp.StatusCode, Snippet: Snippet(body), Body: body}
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Snippet is the beginning of body as one line of valid UTF-8, for an error message.
func Snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > snippetLen {
		s = s[:snippetLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// WithTimeout bounds ctx by d when d is positive.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// Clients hands out a base client and, on demand, a copy of it that skips TLS verification.
// The copies share nothing mutable with the base client.
type Clients struct {
	base *http.Client
}

// NewClients wraps base; nil means a client with Go's default transport.
func NewClients(base *http.Client) Clients {
	if base == nil {
		base = &http.Client{}
	}
	return Clients{base: base}
}

// Get returns the base client, or an insecure copy of it when insecure is true. The copy
// clones the base client's *http.Transport (or Go's default one) and sets
// InsecureSkipVerify; a base client with another kind of transport cannot be made
// insecure and yields an error.
func (c Clients) Get(insecure bool) (*http.Client, error) {
	if !insecure {
		return c.base, nil
	}
	var tr *http.Transport
	switch t := c.base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("insecure: the HTTP client's transport is a %T, not an *http.Transport", t)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{} //nolint:gosec // MinVersion is Go's default
	}
	tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the metric asked for insecure
	cl := *c.base
	cl.Transport = tr
	return &cl, nil
}

// Redactor removes secret values from error messages.
type Redactor struct {
	secrets []string
}

// NewRedactor redacts each non-empty value in secrets (and its URL-encoded forms).
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add adds more secret values.
func (r *Redactor) Add(secrets ...string) {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		r.secrets = append(r.secrets, s)
		if q := url.QueryEscape(s); q != s {
			r.secrets = append(r.secrets, q)
		}
		if p := url.PathEscape(s); p != s {
			r.secrets = append(r.secrets, p)
		}
	}
}

// String returns s with every secret replaced by [redacted].
func (r *Redactor) String(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// Error returns err with every secret removed from its message. The result still matches
// errors.Is and errors.As against err's chain, but does not unwrap to it, so no code path
// can print the original message.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if len(r.secrets) == 0 {
		return err
	}
	return &redacted{msg: msg, cause: err}
}

type redacted struct {
	msg   string
	cause error
}

func (e *redacted) Error() string { return e.msg }

// Is lets errors.Is see through the redaction.
func (e *redacted) Is(target error) bool { return errors.Is(e.cause, target) }

// As lets errors.As see through the redaction.
func (e *redacted) As(target any) bool { return errors.As(e.cause, target) }
