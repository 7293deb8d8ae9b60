package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// MetricProvider says where a metric's measurements come from. Exactly one field is set.
// Any string in a provider may hold {{args.NAME}} placeholders.
//
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.kayenta), has(self.web), has(self.datadog), has(self.wavefront), has(self.newRelic), has(self.job), has(self.cloudWatch), has(self.graphite), has(self.influxdb), has(self.skywalking)].filter(x, x).size() + (has(self.plugin) ? size(self.plugin) : 0) == 1",message="provider needs exactly one of prometheus, datadog, newRelic, wavefront, cloudWatch, graphite, influxdb, skywalking, kayenta, web, job, or a plugin with a single entry"
type MetricProvider struct {
	// prometheus runs a PromQL query.
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`

	// kayenta runs a Kayenta canary judgement.
	// +optional
	Kayenta *KayentaMetric `json:"kayenta,omitempty"`

	// web calls an HTTP endpoint and reads the result from its response.
	// +optional
	Web *WebMetric `json:"web,omitempty"`

	// datadog runs a Datadog metrics query.
	// +optional
	Datadog *DatadogMetric `json:"datadog,omitempty"`

	// wavefront runs a Wavefront query.
	// +optional
	Wavefront *WavefrontMetric `json:"wavefront,omitempty"`

	// newRelic runs a New Relic NRQL query.
	// +optional
	NewRelic *NewRelicMetric `json:"newRelic,omitempty"`

	// job runs a Kubernetes Job; the measurement succeeds when the Job succeeds.
	// +optional
	Job *JobMetric `json:"job,omitempty"`

	// cloudWatch runs AWS CloudWatch metric data queries.
	// +optional
	CloudWatch *CloudWatchMetric `json:"cloudWatch,omitempty"`

	// graphite runs a Graphite render query.
	// +optional
	Graphite *GraphiteMetric `json:"graphite,omitempty"`

	// influxdb runs an InfluxDB Flux query.
	// +optional
	Influxdb *InfluxdbMetric `json:"influxdb,omitempty"`

	// skywalking runs an Apache SkyWalking GraphQL query.
	// +optional
	SkyWalking *SkyWalkingMetric `json:"skywalking,omitempty"`

	// plugin configures a metric provider plugin: one entry, keyed by the plugin's name
	// (such as argoproj-labs/sample-prometheus), whose value is the plugin's own
	// configuration, passed to it as is.
	// +optional
	Plugin map[string]runtime.RawExtension `json:"plugin,omitempty"`
}

// PrometheusMetric is a query against a Prometheus-compatible API.
type PrometheusMetric struct {
	// address is the base URL of the Prometheus server, such as http://prometheus:9090.
	// When empty, the controller's configured default address is used.
	// +optional
	Address string `json:"address,omitempty"`

	// query is the PromQL query.
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`

	// authentication signs or authorizes the requests.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`

	// timeout is the query timeout in seconds (default 30).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Timeout *int64 `json:"timeout,omitempty"`

	// insecure skips verification of the server's TLS certificate.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// headers are HTTP headers added to every request.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Headers []WebMetricHeader `json:"headers,omitempty"`

	// rangeQuery turns the query into a range query; result is then a list of values.
	// +optional
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
}

// PrometheusRangeQueryArgs are the bounds and resolution of a Prometheus range query.
type PrometheusRangeQueryArgs struct {
	// start is the beginning of the range, as an expression such as
	// now() - duration("{{args.lookback}}").
	// +optional
	Start string `json:"start,omitempty"`

	// end is the end of the range, as an expression such as now().
	// +optional
	End string `json:"end,omitempty"`

	// step is the resolution of the range, such as 1m.
	// +optional
	Step TemplatedDurationString `json:"step,omitempty"`
}

// Authentication holds the ways a provider can authenticate its requests.
type Authentication struct {
	// sigv4 signs requests with AWS Signature Version 4 (Amazon Managed Prometheus).
	// +optional
	Sigv4 *Sigv4Config `json:"sigv4,omitempty"`

	// oauth2 gets a bearer token with the OAuth2 client credentials flow.
	// +optional
	OAuth2 *OAuth2Config `json:"oauth2,omitempty"`

	// basicAuth sends a user name and password.
	// +optional
	BasicAuth *BasicAuthConfig `json:"basicAuth,omitempty"`
}

// Sigv4Config configures AWS SigV4 request signing.
type Sigv4Config struct {
	// region is the AWS region to sign for.
	// +optional
	Region string `json:"region,omitempty"`

	// profile is the AWS credentials profile to sign with.
	// +optional
	Profile string `json:"profile,omitempty"`

	// roleArn is the IAM role to assume for signing.
	// +optional
	RoleARN string `json:"roleArn,omitempty"`
}

// OAuth2Config configures the OAuth2 client credentials flow.
type OAuth2Config struct {
	// tokenUrl is the token endpoint of the OAuth2 provider.
	// +optional
	TokenURL string `json:"tokenUrl,omitempty"`

	// clientId is the OAuth2 client ID.
	// +optional
	ClientID string `json:"clientId,omitempty"`

	// clientSecret is the OAuth2 client secret; pass it through an argument that reads a
	// Secret, such as "{{args.client-secret}}".
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`

	// scopes are the OAuth2 scopes to request.
	// +optional
	// +listType=atomic
	Scopes []string `json:"scopes,omitempty"`
}

// BasicAuthConfig holds HTTP basic authentication credentials.
type BasicAuthConfig struct {
	// username is the user name.
	// +optional
	Username string `json:"username,omitempty"`

	// password is the password; pass it through an argument that reads a Secret.
	// +optional
	Password string `json:"password,omitempty"`
}

// WebMetricMethod is the HTTP method of a web metric.
//
// +kubebuilder:validation:Enum=GET;POST;PUT
type WebMetricMethod string

const (
	// WebMetricMethodGet is the default method.
	WebMetricMethodGet WebMetricMethod = "GET"
	// WebMetricMethodPost sends body or jsonBody with POST.
	WebMetricMethodPost WebMetricMethod = "POST"
	// WebMetricMethodPut sends body or jsonBody with PUT.
	WebMetricMethodPut WebMetricMethod = "PUT"
)

// WebMetric is an HTTP request whose response gives the measured value.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.body) && size(self.body) > 0 && has(self.jsonBody))",message="body and jsonBody are mutually exclusive: set one of them"
// +kubebuilder:validation:XValidation:rule="!((has(self.body) && size(self.body) > 0) || has(self.jsonBody)) || (has(self.method) && self.method in ['POST', 'PUT'])",message="body and jsonBody need method POST or PUT (the default method is GET)",fieldPath=".method"
type WebMetric struct {
	// method is the HTTP method: GET (the default), POST or PUT.
	// +optional
	Method WebMetricMethod `json:"method,omitempty"`

	// url is the address to call.
	// +required
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url"`

	// headers are HTTP headers added to the request.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Headers []WebMetricHeader `json:"headers,omitempty"`

	// body is the request body as a string (POST or PUT only).
	// +optional
	Body string `json:"body,omitempty"`

	// timeoutSeconds is the request timeout in seconds (default 10).
	// +optional
	// +kubebuilder:validation:Minimum=0
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`

	// jsonPath selects the result from a JSON response, such as {$.data.ok}. Without it the
	// whole response body is the result, which also works for plain-text responses.
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`

	// insecure skips verification of the server's TLS certificate.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// jsonBody is the request body as a JSON object, sent with Content-Type
	// application/json (POST or PUT only).
	// +optional
	JSONBody *runtime.RawExtension `json:"jsonBody,omitempty"`

	// authentication authorizes the request.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`
}

// WebMetricHeader is one HTTP header.
type WebMetricHeader struct {
	// key is the header's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`

	// value is the header's value.
	// +required
	Value string `json:"value"`
}

// DatadogMetric is a Datadog metrics query: either one query (API v1 or v2) or several named
// queries combined by a formula (API v2).
//
// +kubebuilder:validation:XValidation:rule="(has(self.query) && size(self.query) > 0) != (has(self.queries) && size(self.queries) > 0)",message="datadog needs exactly one of query or queries"
// +kubebuilder:validation:XValidation:rule="!has(self.apiVersion) || self.apiVersion != 'v1' || !has(self.queries) || size(self.queries) == 0",message="datadog queries need apiVersion v2 (apiVersion defaults to v1, which takes a single query)",fieldPath=".apiVersion"
// +kubebuilder:validation:XValidation:rule="!has(self.formula) || size(self.formula) == 0 || (has(self.queries) && size(self.queries) > 0)",message="datadog formula needs queries to refer to",fieldPath=".formula"
// +kubebuilder:validation:XValidation:rule="!has(self.queries) || size(self.queries) <= 1 || (has(self.formula) && size(self.formula) > 0)",message="datadog needs a formula to combine more than one query",fieldPath=".formula",reason="FieldValueRequired"
// +kubebuilder:validation:XValidation:rule="!has(self.aggregator) || (has(self.apiVersion) && self.apiVersion == 'v2')",message="datadog aggregator needs apiVersion v2",fieldPath=".aggregator"
type DatadogMetric struct {
	// interval is the time window queried, ending now (default 5m). It is not the time
	// between measurements, which is the metric's own interval.
	// +optional
	// +kubebuilder:default="5m"
	Interval TemplatedDurationString `json:"interval,omitempty"`

	// query is a single Datadog metrics query.
	// +optional
	Query string `json:"query,omitempty"`

	// queries maps names to queries that formula refers to (API v2 only).
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Queries map[string]string `json:"queries,omitempty"`

	// formula combines the named queries, such as "a / b" (API v2 only).
	// +optional
	Formula string `json:"formula,omitempty"`

	// apiVersion is the Datadog API version to call: v1 (the default) or v2.
	// +optional
	// +kubebuilder:default=v1
	// +kubebuilder:validation:Enum=v1;v2
	APIVersion string `json:"apiVersion,omitempty"`

	// aggregator reduces each series to one value (API v2 only; Datadog's default is last).
	// +optional
	// +kubebuilder:validation:Enum=avg;min;max;sum;last;percentile;mean;l2norm;area
	Aggregator string `json:"aggregator,omitempty"`

	// secretRef names the Secret holding the Datadog address, api-key and app-key. Without
	// it the controller's own Datadog credentials are used.
	// +optional
	SecretRef *SecretRef `json:"secretRef,omitempty"`

	// requestTimeout is the HTTP timeout of requests to Datadog (default 10s).
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="self.contains('{{') || !self.matches('^(0+([.]0+)?(ns|us|µs|ms|s|m|h)?)+$')",message="requestTimeout must be more than zero"
	RequestTimeout TemplatedDurationString `json:"requestTimeout,omitempty"`
}

// SecretRef names a Secret holding a provider's credentials.
//
// +kubebuilder:validation:XValidation:rule="!has(self.namespaced) || !self.namespaced || (has(self.name) && size(self.name) > 0)",message="secretRef.name is required when namespaced is true",fieldPath=".name",reason="FieldValueRequired"
type SecretRef struct {
	// name is the Secret's name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// namespaced reads the Secret from the analysis' own namespace instead of the
	// controller's namespace.
	// +optional
	Namespaced bool `json:"namespaced,omitempty"`
}

// NewRelicMetric is a New Relic NRQL query.
type NewRelicMetric struct {
	// profile is the name of the Secret holding the New Relic account settings (default
	// newrelic).
	// +optional
	Profile string `json:"profile,omitempty"`

	// query is the NRQL query.
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`

	// timeout is the NRQL query timeout in seconds (default 5).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Timeout *int64 `json:"timeout,omitempty"`
}

// WavefrontMetric is a Wavefront query.
type WavefrontMetric struct {
	// address is the Wavefront server, such as example.wavefront.com; its API token is
	// looked up by this address.
	// +optional
	Address string `json:"address,omitempty"`

	// query is the Wavefront query.
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
}

// GraphiteMetric is a Graphite render query.
type GraphiteMetric struct {
	// address is the base URL of the Graphite server.
	// +optional
	Address string `json:"address,omitempty"`

	// query is the Graphite target expression.
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
}

// InfluxdbMetric is an InfluxDB Flux query.
type InfluxdbMetric struct {
	// profile is the name of the Secret holding the InfluxDB address, token and org (default
	// influxdb).
	// +optional
	Profile string `json:"profile,omitempty"`

	// query is the Flux query.
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
}

// SkyWalkingMetric is an Apache SkyWalking GraphQL query.
type SkyWalkingMetric struct {
	// address is the base URL of the SkyWalking OAP server.
	// +optional
	Address string `json:"address,omitempty"`

	// query is the GraphQL query; it receives the queried time range as $duration.
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`

	// interval is the time window queried, ending now.
	// +optional
	Interval TemplatedDurationString `json:"interval,omitempty"`
}

// JobMetric runs a Kubernetes Job as a measurement: the measurement succeeds when the Job
// completes and fails when the Job fails.
type JobMetric struct {
	// metadata holds labels and annotations copied to the Job.
	// +optional
	Metadata metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the Job's spec.
	// +required
	Spec batchv1.JobSpec `json:"spec"`
}

// CloudWatchMetric is a set of AWS CloudWatch metric data queries.
type CloudWatchMetric struct {
	// interval is the time window queried, ending now (default 5m).
	// +optional
	Interval TemplatedDurationString `json:"interval,omitempty"`

	// metricDataQueries are the CloudWatch GetMetricData queries.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=500
	MetricDataQueries []CloudWatchMetricDataQuery `json:"metricDataQueries"`
}

// CloudWatchMetricDataQuery is one CloudWatch metric data query: a metric to fetch
// (metricStat) or a math expression over other queries (expression).
//
// +kubebuilder:validation:XValidation:rule="has(self.expression) != has(self.metricStat)",message="a metricDataQueries entry needs exactly one of expression or metricStat"
type CloudWatchMetricDataQuery struct {
	// id names the query, so that expressions can refer to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	ID string `json:"id"`

	// expression is a CloudWatch metric math expression over other queries' ids.
	// +optional
	Expression *string `json:"expression,omitempty"`

	// label is a human-readable name for the returned series.
	// +optional
	Label *string `json:"label,omitempty"`

	// metricStat is the metric to fetch and how to aggregate it.
	// +optional
	MetricStat *CloudWatchMetricStat `json:"metricStat,omitempty"`

	// period is the granularity, in seconds, of the returned data points.
	// +optional
	Period *intstr.IntOrString `json:"period,omitempty"`

	// returnData says whether this query's values are part of the result (default true).
	// +optional
	ReturnData *bool `json:"returnData,omitempty"`
}

// CloudWatchMetricStat is a CloudWatch metric with its statistic and period.
type CloudWatchMetricStat struct {
	// metric identifies the CloudWatch metric.
	// +optional
	Metric CloudWatchMetricStatMetric `json:"metric,omitempty"`

	// period is the granularity, in seconds, of the returned data points.
	// +optional
	Period *intstr.IntOrString `json:"period,omitempty"`

	// stat is the statistic, such as Sum, Average or p99.
	// +optional
	Stat string `json:"stat,omitempty"`

	// unit is the unit of the values, such as Count.
	// +optional
	Unit string `json:"unit,omitempty"`
}

// CloudWatchMetricStatMetric identifies a CloudWatch metric.
type CloudWatchMetricStatMetric struct {
	// dimensions are the name/value pairs that identify the metric.
	// +optional
	// +listType=atomic
	Dimensions []CloudWatchMetricStatMetricDimension `json:"dimensions,omitempty"`

	// metricName is the metric's name.
	// +optional
	MetricName string `json:"metricName,omitempty"`

	// namespace is the metric's CloudWatch namespace.
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// CloudWatchMetricStatMetricDimension is one dimension of a CloudWatch metric.
type CloudWatchMetricStatMetricDimension struct {
	// name is the dimension's name.
	// +optional
	Name string `json:"name,omitempty"`

	// value is the dimension's value.
	// +optional
	Value string `json:"value,omitempty"`
}

// KayentaMetric asks a Kayenta server to compare a control and an experiment scope.
type KayentaMetric struct {
	// address is the base URL of the Kayenta server.
	// +required
	// +kubebuilder:validation:MinLength=1
	Address string `json:"address"`

	// application is the application name sent to Kayenta.
	// +required
	Application string `json:"application"`

	// canaryConfigName is the Kayenta canary configuration to judge with.
	// +required
	CanaryConfigName string `json:"canaryConfigName"`

	// metricsAccountName is the Kayenta account the metrics are read with.
	// +required
	MetricsAccountName string `json:"metricsAccountName"`

	// configurationAccountName is the Kayenta account the canary configuration is read with.
	// +required
	ConfigurationAccountName string `json:"configurationAccountName"`

	// storageAccountName is the Kayenta account the results are stored with.
	// +required
	StorageAccountName string `json:"storageAccountName"`

	// threshold holds the scores that make the judgement pass or marginal.
	// +required
	Threshold KayentaThreshold `json:"threshold"`

	// scopes are the control and experiment scopes to compare.
	// +required
	// +listType=atomic
	Scopes []KayentaScope `json:"scopes"`

	// lookback makes Kayenta judge the whole interval from start, not only the latest step.
	// +optional
	Lookback bool `json:"lookback,omitempty"`
}

// KayentaThreshold holds Kayenta score thresholds.
type KayentaThreshold struct {
	// pass is the score at or above which the judgement passes.
	// +required
	Pass int64 `json:"pass"`

	// marginal is the score at or above which the judgement is marginal (Inconclusive).
	// +required
	Marginal int64 `json:"marginal"`
}

// KayentaScope is a named pair of a control scope and an experiment scope.
type KayentaScope struct {
	// name is the scope's name in the canary configuration.
	// +required
	Name string `json:"name"`

	// controlScope selects the baseline.
	// +required
	ControlScope ScopeDetail `json:"controlScope"`

	// experimentScope selects the canary.
	// +required
	ExperimentScope ScopeDetail `json:"experimentScope"`
}

// ScopeDetail is one side of a Kayenta comparison.
type ScopeDetail struct {
	// scope is the metric scope, such as a label selector.
	// +required
	Scope string `json:"scope"`

	// region is the region to query.
	// +required
	Region string `json:"region"`

	// step is the resolution, in seconds.
	// +required
	Step int64 `json:"step"`

	// start is the beginning of the compared interval.
	// +optional
	Start string `json:"start,omitempty"`

	// end is the end of the compared interval.
	// +optional
	End string `json:"end,omitempty"`
}
