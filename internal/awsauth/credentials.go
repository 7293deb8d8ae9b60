package awsauth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-io/flotilla/internal/httpapi"
)

// refreshMargin is how long before their expiry temporary credentials are renewed.
const refreshMargin = 5 * time.Minute

// Source yields credentials.
type Source interface {
	Retrieve(ctx context.Context) (Credentials, error)
}

// Env is the process environment as a function, so tests can supply their own.
type Env func(string) string

// Config is what the credential chain reads besides the environment.
type Config struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv Env
	// HTTPClient calls STS; nil means a default client.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c Config) getenv(k string) string {
	if c.Getenv == nil {
		return os.Getenv(k)
	}
	return c.Getenv(k)
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c Config) client() *http.Client {
	if c.HTTPClient == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	return c.HTTPClient
}

// Region is the region from AWS_REGION or AWS_DEFAULT_REGION.
func (c Config) Region() string {
	if r := c.getenv("AWS_REGION"); r != "" {
		return r
	}
	return c.getenv("AWS_DEFAULT_REGION")
}

// Endpoint is the base URL of service in region: AWS_ENDPOINT_URL_<SERVICE> or
// AWS_ENDPOINT_URL when set (as the AWS SDKs allow), else https://<host>.<region>.amazonaws.com.
func (c Config) Endpoint(envService, host, region string) string {
	if e := c.getenv("AWS_ENDPOINT_URL_" + envService); e != "" {
		return e
	}
	if e := c.getenv("AWS_ENDPOINT_URL"); e != "" {
		return e
	}
	return "https://" + host + "." + region + ".amazonaws.com"
}

// Chain is the default credential chain: environment variables (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then a web identity token (AWS_ROLE_ARN with
// AWS_WEB_IDENTITY_TOKEN_FILE, as IAM roles for service accounts set them), then the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE
// or default). profile, when set, picks a profile of the shared file instead.
func (c Config) Chain(profile string) Source {
	if profile != "" {
		return c.cached(sharedFile{cfg: c, profile: profile})
	}
	return c.cached(chain{cfg: c})
}

// AssumeRole returns credentials for roleARN, obtained from STS with base's credentials.
func (c Config) AssumeRole(base Source, roleARN, region string) Source {
	return c.cached(assumeRole{cfg: c, base: base, roleARN: roleARN, region: region})
}

type chain struct{ cfg Config }

func (ch chain) Retrieve(ctx context.Context) (Credentials, error) {
	c := ch.cfg
	if id, secret := firstOf(c, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), firstOf(c, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"); id != "" && secret != "" {
		return Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: c.getenv("AWS_SESSION_TOKEN")}, nil
	}
	if role, file := c.getenv("AWS_ROLE_ARN"), c.getenv("AWS_WEB_IDENTITY_TOKEN_FILE"); role != "" && file != "" {
		return webIdentity{cfg: c, roleARN: role, tokenFile: file}.Retrieve(ctx)
	}
	creds, err := sharedFile{cfg: c, profile: c.getenv("AWS_PROFILE")}.Retrieve(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), no web identity (AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE), and the shared credentials file: %w", err)
	}
	return creds, nil
}

func firstOf(c Config, keys ...string) string {
	for _, k := range keys {
		if v := c.getenv(k); v != "" {
			return v
		}
	}
	return ""
}

type sharedFile struct {
	cfg     Config
	profile string
}

func (s sharedFile) Retrieve(context.Context) (Credentials, error) {
	path := s.cfg.getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		home := s.cfg.getenv("HOME")
		if home == "" {
			return Credentials{}, errors.New("no shared credentials file: HOME is not set")
		}
		path = filepath.Join(home, ".aws", "credentials")
	}
	profile := s.profile
	if profile == "" {
		profile = "default"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading the shared credentials file: %w", err)
	}
	var creds Credentials
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if section != profile {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			creds.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			creds.SecretAccessKey = strings.TrimSpace(v)
		case "aws_session_token":
			creds.SessionToken = strings.TrimSpace(v)
		}
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("profile %q in %s has no aws_access_key_id and aws_secret_access_key", profile, path)
	}
	return creds, nil
}

type webIdentity struct {
	cfg       Config
	roleARN   string
	tokenFile string
}

func (w webIdentity) Retrieve(ctx context.Context) (Credentials, error) {
	token, err := os.ReadFile(w.tokenFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading the web identity token: %w", err)
	}
	session := w.cfg.getenv("AWS_ROLE_SESSION_NAME")
	if session == "" {
		session = fmt.Sprintf("flotilla-%d", w.cfg.now().UnixNano())
	}
	form := url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleArn":          {w.roleARN},
		"RoleSessionName":  {session},
		"WebIdentityToken": {strings.TrimSpace(string(token))},
	}
	// AssumeRoleWithWebIdentity is not signed: the token is the proof.
	region := w.cfg.Region()
	if region == "" {
		region = "us-east-1"
	}
	creds, err := callSTS(ctx, w.cfg, region, form, nil)
	if err != nil {
		return Credentials{}, httpapi.NewRedactor(strings.TrimSpace(string(token))).Error(fmt.Errorf("assuming role with web identity: %w", err))
	}
	return creds, nil
}

type assumeRole struct {
	cfg     Config
	base    Source
	roleARN string
	region  string
}

func (a assumeRole) Retrieve(ctx context.Context) (Credentials, error) {
	base, err := a.base.Retrieve(ctx)
	if err != nil {
		return Credentials{}, err
	}
	form := url.Values{
		"Action":          {"AssumeRole"},
		"Version":         {"2011-06-15"},
		"RoleArn":         {a.roleARN},
		"RoleSessionName": {fmt.Sprintf("flotilla-%d", a.cfg.now().UnixNano())},
	}
	creds, err := callSTS(ctx, a.cfg, a.region, form, &base)
	if err != nil {
		return Credentials{}, fmt.Errorf("assuming role %s: %w", a.roleARN, err)
	}
	return creds, nil
}

// stsCredentials is the Credentials element of AssumeRole and AssumeRoleWithWebIdentity
// responses.
type stsCredentials struct {
	AccessKeyID     string    `xml:"AccessKeyId"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	SessionToken    string    `xml:"SessionToken"`
	Expiration      time.Time `xml:"Expiration"`
}

func callSTS(ctx context.Context, cfg Config, region string, form url.Values, signWith *Credentials) (Credentials, error) {
	endpoint := cfg.Endpoint("STS", "sts", region)
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return Credentials{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if signWith != nil {
		Sign(req, body, *signWith, region, "sts", cfg.now())
	}
	resp, err := httpapi.Do(cfg.client(), req)
	if err != nil {
		return Credentials{}, err
	}
	// Both responses nest Credentials two levels down; match on the element name alone.
	var doc struct {
		Result struct {
			Credentials stsCredentials `xml:"Credentials"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(resp.Body, &doc); err != nil {
		return Credentials{}, fmt.Errorf("STS response is not XML: %w", err)
	}
	c := doc.Result.Credentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, errors.New("STS response has no credentials")
	}
	return Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expires: c.Expiration}, nil
}

// cached keeps a source's credentials until shortly before they expire.
type cachedSource struct {
	cfg    Config
	source Source

	mu    sync.Mutex
	creds *Credentials
}

func (c Config) cached(s Source) Source { return &cachedSource{cfg: c, source: s} }

func (c *cachedSource) Retrieve(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds != nil && (c.creds.Expires.IsZero() || c.cfg.now().Before(c.creds.Expires.Add(-refreshMargin))) {
		return *c.creds, nil
	}
	creds, err := c.source.Retrieve(ctx)
	if err != nil {
		return Credentials{}, err
	}
	if !creds.Expires.IsZero() {
		// Only temporary credentials are cached: long-term keys come from the environment
		// or a file, which may change, and reading them again is cheap.
		c.creds = &creds
	}
	return creds, nil
}
