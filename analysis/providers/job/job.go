// Package job measures metrics by running a Kubernetes Job, as Argo Rollouts' job metric
// does: the measurement succeeds when the Job completes and fails when the Job fails.
//
// A new measurement creates a Job from the metric's job block (its labels and annotations,
// and its JobSpec as written) in the AnalysisRun's namespace, owned by the AnalysisRun (a
// controller reference, so the garbage collector removes the Job with the run). The Job's
// name is derived from the run, its UID, the metric and the measurement's ordinal, so a
// controller that restarts after it created the Job but before it recorded the measurement
// finds the same Job instead of starting a second one.
//
// Until the Job finishes, Measure returns a pending value whose metadata names the Job
// (job-name, job-namespace, as in Argo Rollouts); the measurement is then resumed with that
// metadata. A Job with condition Complete gives the verdict Successful, one with condition
// Failed the verdict Failed, with the condition's reason and message as the value. Terminate
// deletes the Job, and its pods in the background.
//
// The Job provider needs a Kubernetes client, so the analysis library cannot build it: the
// spoke passes it to providers.New in Deps.Extra.
package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

const (
	// Type is the provider block this provider serves.
	Type = "job"
	// MetadataJobName is the measurement metadata key of the Job's name, as in Argo Rollouts.
	MetadataJobName = "job-name"
	// MetadataJobNamespace is the measurement metadata key of the Job's namespace.
	MetadataJobNamespace = "job-namespace"

	// LabelRunUID is set on every Job to the UID of the AnalysisRun that runs it.
	LabelRunUID = "analysisrun.flotilla.dev/uid"
	// AnnotationRun is set on every Job to the name of its AnalysisRun (an annotation, as a
	// name may be longer than a label value can be).
	AnnotationRun = "analysisrun.flotilla.dev/name"
	// AnnotationMetric is set on every Job to the name of its metric.
	AnnotationMetric = "analysisrun.flotilla.dev/metric"
	// AnnotationOrdinal is set on every Job to the ordinal of its measurement.
	AnnotationOrdinal = "analysisrun.flotilla.dev/measurement"

	// maxNameLength keeps Job names valid as label values: the Job controller copies the
	// name into the job-name label of its pods.
	maxNameLength = validation.DNS1123LabelMaxLength
)

// Options configure the provider.
type Options struct {
	// Client creates and deletes Jobs, and reads them when Reader is nil.
	Client client.Client
	// Reader reads Jobs. The spoke passes its API reader, so that Jobs are read live and
	// no informer caches every Job of the cluster.
	Reader client.Reader
}

// Provider runs Jobs. It is safe for concurrent use.
type Provider struct {
	client client.Client
	reader client.Reader
}

var (
	_ analysis.Provider   = (*Provider)(nil)
	_ analysis.Terminator = (*Provider)(nil)
)

// New returns a Job provider.
func New(opts Options) *Provider {
	p := &Provider{client: opts.Client, reader: opts.Reader}
	if p.reader == nil {
		p.reader = opts.Client
	}
	return p
}

// Type is "job".
func (p *Provider) Type() string { return Type }

// Measure starts the metric's Job, or, with req.InFlight, looks at the Job it started.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	jm := req.Metric.Provider.Job
	if jm == nil {
		return analysis.Value{}, errors.New("job: the metric has no job provider")
	}
	if p.client == nil {
		return analysis.Value{}, errors.New("job: the provider has no Kubernetes client")
	}
	var job *batchv1.Job
	var err error
	if req.InFlight != nil {
		job, err = p.resume(ctx, req)
	} else {
		job, err = p.start(ctx, req, jm)
	}
	if err != nil {
		return analysis.Value{}, fmt.Errorf("job: %w", err)
	}
	return valueOf(job), nil
}

// Terminate deletes the Job of the measurement in req.InFlight (its pods are deleted in the
// background). A Job that is already gone is not an error.
func (p *Provider) Terminate(ctx context.Context, req analysis.Request) error {
	if p.client == nil {
		return errors.New("job: the provider has no Kubernetes client")
	}
	key, err := jobKey(req)
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := p.client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("job: deleting Job %s: %w", key, err)
	}
	return nil
}

// start creates the measurement's Job, or finds the one a previous attempt created.
func (p *Provider) start(ctx context.Context, req analysis.Request, jm *v1alpha1.JobMetric) (*batchv1.Job, error) {
	if req.RunName == "" || req.RunUID == "" || req.Namespace == "" {
		return nil, errors.New("the request does not name the AnalysisRun (name, UID and namespace) that owns the Job")
	}
	if req.Ordinal < 1 {
		return nil, errors.New("the request has no measurement ordinal to name the Job after")
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   req.Namespace,
			Name:        Name(req.RunName, req.RunUID, req.Metric.Name, req.Ordinal),
			Labels:      maps.Clone(jm.Metadata.Labels),
			Annotations: maps.Clone(jm.Metadata.Annotations),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         v1alpha1.GroupVersion.String(),
				Kind:               "AnalysisRun",
				Name:               req.RunName,
				UID:                types.UID(req.RunUID),
				Controller:         new(true),
				BlockOwnerDeletion: new(true),
			}},
		},
		Spec: *jm.Spec.DeepCopy(),
	}
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Labels[LabelRunUID] = req.RunUID
	job.Annotations[AnnotationRun] = req.RunName
	job.Annotations[AnnotationMetric] = req.Metric.Name
	job.Annotations[AnnotationOrdinal] = strconv.Itoa(int(req.Ordinal))

	err := p.client.Create(ctx, job)
	switch {
	case err == nil:
		return job, nil
	case !apierrors.IsAlreadyExists(err):
		return nil, fmt.Errorf("creating Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	// Created by an earlier attempt at this measurement (a controller that restarted before
	// it recorded it): take that Job over, if it is this run's.
	existing := &batchv1.Job{}
	if err := p.reader.Get(ctx, client.ObjectKeyFromObject(job), existing); err != nil {
		return nil, fmt.Errorf("reading Job %s/%s, which exists: %w", job.Namespace, job.Name, err)
	}
	if ref := metav1.GetControllerOf(existing); ref == nil || string(ref.UID) != req.RunUID {
		return nil, fmt.Errorf("a Job named %s/%s exists and does not belong to this AnalysisRun", job.Namespace, job.Name)
	}
	return existing, nil
}

// resume reads the Job of the measurement in flight.
func (p *Provider) resume(ctx context.Context, req analysis.Request) (*batchv1.Job, error) {
	key, err := jobKey(req)
	if err != nil {
		return nil, err
	}
	job := &batchv1.Job{}
	if err := p.reader.Get(ctx, key, job); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the Job %s no longer exists (deleted before it finished)", key)
		}
		return nil, fmt.Errorf("reading Job %s: %w", key, err)
	}
	return job, nil
}

// jobKey names the Job of req.InFlight, from its metadata.
func jobKey(req analysis.Request) (client.ObjectKey, error) {
	m := req.InFlight
	if m == nil || m.Metadata[MetadataJobName] == "" {
		return client.ObjectKey{}, errors.New("the measurement does not name its Job")
	}
	ns := m.Metadata[MetadataJobNamespace]
	if ns == "" {
		ns = req.Namespace
	}
	return client.ObjectKey{Namespace: ns, Name: m.Metadata[MetadataJobName]}, nil
}

// valueOf reads the outcome of job: pending until it has condition Complete or Failed.
func valueOf(job *batchv1.Job) analysis.Value {
	v := analysis.Value{Metadata: map[string]string{
		MetadataJobName:      job.Name,
		MetadataJobNamespace: job.Namespace,
	}}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			v.Verdict = v1alpha1.AnalysisPhaseSuccessful
			v.Text = string(batchv1.JobComplete)
			return v
		case batchv1.JobFailed:
			v.Verdict = v1alpha1.AnalysisPhaseFailed
			v.Text = strings.TrimSuffix(fmt.Sprintf("%s: %s: %s", batchv1.JobFailed, c.Reason, c.Message), ": ")
			return v
		}
	}
	v.Pending = true
	return v
}

// Name is the name of the Job of one measurement: the run's and the metric's names, made
// DNS-safe and shortened, the ordinal, and a hash of the run's UID and the metric's name, so
// that two runs (or two metrics that read alike once made DNS-safe) never share a Job. It
// is at most 63 characters long.
func Name(runName, runUID, metric string, ordinal int32) string {
	sum := sha256.Sum256([]byte(runUID + "/" + metric))
	suffix := "-" + strconv.Itoa(int(ordinal)) + "-" + hex.EncodeToString(sum[:])[:8]
	base := dnsSafe(runName + "-" + metric)
	if limit := maxNameLength - len(suffix); len(base) > limit {
		base = strings.TrimRight(base[:limit], "-")
	}
	if base == "" {
		base = "measurement"
	}
	return base + suffix
}

// dnsSafe lowercases s and replaces every run of characters outside [a-z0-9] with one dash.
func dnsSafe(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}
