// Package auth authorizes provider requests the ways a metric's authentication block
// allows: HTTP basic authentication and OAuth2 client credentials (RFC 6749 section 4.4),
// with tokens cached until shortly before they expire.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

// expiryMargin is how long before its expiry a cached token is replaced.
const expiryMargin = 30 * time.Second

// Secrets returns the secret values in a (a password, a client secret), for redaction.
func Secrets(a *v1alpha1.Authentication) []string {
	if a == nil {
		return nil
	}
	var out []string
	if a.BasicAuth != nil {
		out = append(out, a.BasicAuth.Password)
	}
	if a.OAuth2 != nil {
		out = append(out, a.OAuth2.ClientSecret)
	}
	return out
}

// Validate checks that a's basic auth and OAuth2 settings are complete, as Argo Rollouts
// does: a user name needs a password and the reverse, and OAuth2 needs a client ID and
// secret with its token URL.
func Validate(a *v1alpha1.Authentication) error {
	if a == nil {
		return nil
	}
	if b := a.BasicAuth; b != nil && (b.Username != "" || b.Password != "") {
		if b.Username == "" {
			return errors.New("authentication.basicAuth: username is required with a password")
		}
		if b.Password == "" {
			return errors.New("authentication.basicAuth: password is required with a username")
		}
	}
	if o := a.OAuth2; o != nil && o.TokenURL != "" {
		if o.ClientID == "" || o.ClientSecret == "" {
			return errors.New("authentication.oauth2: clientId and clientSecret are required with tokenUrl")
		}
		if _, err := url.Parse(o.TokenURL); err != nil {
			return errors.New("authentication.oauth2: tokenUrl is not a URL")
		}
	}
	return nil
}

// TokenSource fetches and caches OAuth2 client-credentials tokens. It is safe for
// concurrent use; one TokenSource serves every metric of a provider.
type TokenSource struct {
	now func() time.Time

	mu     sync.Mutex
	tokens map[string]token
	// inBody remembers token URLs that refused HTTP basic client authentication and took
	// the client credentials in the form body instead.
	inBody map[string]bool
}

type token struct {
	value   string
	typ     string
	expires time.Time // zero: no expiry given
}

// NewTokenSource returns an empty token cache.
func NewTokenSource() *TokenSource {
	return &TokenSource{now: time.Now, tokens: map[string]token{}, inBody: map[string]bool{}}
}

// Apply sets the Authorization header of req from a: basic auth, or a bearer token from
// the OAuth2 token endpoint (fetched with client). With both set, OAuth2 wins, as in Argo
// Rollouts where the OAuth2 transport wraps the basic-auth one and overwrites the header.
func (ts *TokenSource) Apply(ctx context.Context, client *http.Client, a *v1alpha1.Authentication, req *http.Request) error {
	if a == nil {
		return nil
	}
	if err := Validate(a); err != nil {
		return err
	}
	if b := a.BasicAuth; b != nil && b.Username != "" {
		req.SetBasicAuth(b.Username, b.Password)
	}
	if o := a.OAuth2; o != nil && o.TokenURL != "" {
		tok, err := ts.token(ctx, client, o)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", tok.typ+" "+tok.value)
	}
	return nil
}

func cacheKey(o *v1alpha1.OAuth2Config) string {
	h := sha256.New()
	for _, s := range append([]string{o.TokenURL, o.ClientID, o.ClientSecret}, o.Scopes...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (ts *TokenSource) token(ctx context.Context, client *http.Client, o *v1alpha1.OAuth2Config) (token, error) {
	key := cacheKey(o)
	ts.mu.Lock()
	tok, ok := ts.tokens[key]
	inBody := ts.inBody[o.TokenURL]
	ts.mu.Unlock()
	if ok && (tok.expires.IsZero() || ts.now().Before(tok.expires.Add(-expiryMargin))) {
		return tok, nil
	}
	tok, err := ts.fetch(ctx, client, o, inBody)
	var serr *httpapi.StatusError
	if !inBody && errors.As(err, &serr) && (serr.StatusCode == http.StatusBadRequest || serr.StatusCode == http.StatusUnauthorized) {
		// Some servers take the client credentials only in the body (RFC 6749 2.3.1 allows both).
		if tok, err = ts.fetch(ctx, client, o, true); err == nil {
			ts.mu.Lock()
			ts.inBody[o.TokenURL] = true
			ts.mu.Unlock()
		}
	}
	if err != nil {
		return token{}, err
	}
	ts.mu.Lock()
	ts.tokens[key] = tok
	ts.mu.Unlock()
	return tok, nil
}

func (ts *TokenSource) fetch(ctx context.Context, client *http.Client, o *v1alpha1.OAuth2Config, inBody bool) (token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	if inBody {
		form.Set("client_id", o.ClientID)
		form.Set("client_secret", o.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, fmt.Errorf("oauth2: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !inBody {
		req.SetBasicAuth(url.QueryEscape(o.ClientID), url.QueryEscape(o.ClientSecret))
	}
	started := ts.now()
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return token{}, fmt.Errorf("oauth2: getting a token: %w", err)
	}
	var body struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return token{}, fmt.Errorf("oauth2: token response is not JSON: %w", err)
	}
	if body.AccessToken == "" {
		return token{}, errors.New("oauth2: token response has no access_token")
	}
	tok := token{value: body.AccessToken, typ: "Bearer"}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		tok.typ = body.TokenType
	}
	if secs := expiresIn(body.ExpiresIn); secs > 0 {
		tok.expires = started.Add(time.Duration(secs) * time.Second)
	}
	return tok, nil
}

// expiresIn reads expires_in, which some servers send as a string.
func expiresIn(raw json.RawMessage) int64 {
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		var m int64
		if _, err := fmt.Sscan(s, &m); err == nil {
			return m
		}
	}
	return 0
}
