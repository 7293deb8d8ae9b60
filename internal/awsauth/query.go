package awsauth

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/flotilla-io/flotilla/internal/httpapi"
)

// APIError is an error response of an AWS Query API (CloudWatch, ELBv2, STS): the HTTP
// status and the Code and Message of its ErrorResponse document.
type APIError struct {
	// Request names the request, as "POST https://host/" (no query string).
	Request string
	// StatusCode is the HTTP status, such as 403.
	StatusCode int
	// Code is AWS's error code, such as AccessDenied or LoadBalancerNotFound.
	Code string
	// Message is AWS's explanation.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s: %s", e.Request, e.StatusCode, e.Code, e.Message)
}

// Query sends form (which names its Action and Version) to the AWS Query API at endpoint,
// signed with creds for service in region at now, and returns the response body. An error
// response whose body is an AWS ErrorResponse is an *APIError; other failures are the
// errors of httpapi.Do.
func Query(ctx context.Context, client *http.Client, endpoint string, form url.Values, creds Credentials, region, service string, now time.Time) ([]byte, error) {
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	Sign(req, body, creds, region, service, now)
	resp, err := httpapi.Do(client, req)
	if err != nil {
		var serr *httpapi.StatusError
		if errors.As(err, &serr) {
			var e struct {
				Error struct {
					Code    string `xml:"Code"`
					Message string `xml:"Message"`
				} `xml:"Error"`
			}
			if xml.Unmarshal(serr.Body, &e) == nil && e.Error.Code != "" {
				return nil, &APIError{Request: serr.Request, StatusCode: serr.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
			}
		}
		return nil, err
	}
	return resp.Body, nil
}
