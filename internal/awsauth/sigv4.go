// Package awsauth signs requests with AWS Signature Version 4 and finds the credentials to
// sign with, the way the AWS SDKs do for a controller: environment variables, IAM roles for
// service accounts (a web identity token file), the shared credentials file, and an
// optional role to assume. It uses crypto/hmac and net/http only, no AWS SDK.
package awsauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

const (
	// Algorithm is the SigV4 algorithm name.
	Algorithm = "AWS4-HMAC-SHA256"
	// timeFormat is the X-Amz-Date format.
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
)

// Credentials are AWS access keys, with the session token of temporary credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expires is when temporary credentials stop working; zero for long-term keys.
	Expires time.Time
}

// Sign adds the X-Amz-Date, X-Amz-Security-Token (for temporary credentials) and
// Authorization headers that sign req for service in region at now. body must be the
// request's body (nil for none); req.Body is replaced by a fresh reader over it.
func Sign(req *http.Request, body []byte, creds Credentials, region, service string, now time.Time) {
	now = now.UTC()
	amzDate := now.Format(timeFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	if req.Host == "" {
		req.Host = req.URL.Host
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}

	canonical, signed := canonicalRequest(req, body)
	scope := strings.Join([]string{now.Format(dateFormat), region, service, "aws4_request"}, "/")
	toSign := strings.Join([]string{Algorithm, amzDate, scope, hexSHA256([]byte(canonical))}, "\n")
	key := signingKey(creds.SecretAccessKey, now.Format(dateFormat), region, service)
	signature := hex.EncodeToString(hmacSHA256(key, []byte(toSign)))
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		Algorithm, creds.AccessKeyID, scope, signed, signature))
}

// canonicalRequest builds the SigV4 canonical request and the signed-headers list. It
// signs host, content-type and every x-amz-* header.
func canonicalRequest(req *http.Request, body []byte) (canonical, signedHeaders string) {
	headers := map[string]string{"host": req.Host}
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if lower == "content-type" || strings.HasPrefix(lower, "x-amz-") {
			trimmed := make([]string, len(values))
			for i, v := range values {
				trimmed[i] = strings.Join(strings.Fields(v), " ")
			}
			headers[lower] = strings.Join(trimmed, ",")
		}
	}
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, name := range names {
		ch.WriteString(name + ":" + headers[name] + "\n")
	}
	signedHeaders = strings.Join(names, ";")

	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical = strings.Join([]string{
		req.Method,
		uriEncode(path, false),
		canonicalQuery(req.URL.Query()),
		ch.String(),
		signedHeaders,
		hexSHA256(body),
	}, "\n")
	return canonical, signedHeaders
}

func canonicalQuery(q map[string][]string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{uriEncode(k, true), uriEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes every byte but the RFC 3986 unreserved characters, and '/'
// unless encodeSlash is set.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func hexSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
