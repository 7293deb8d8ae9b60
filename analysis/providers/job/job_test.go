package job_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/job"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// These tests run the provider against a real API server without controllers: the test
// plays the Job controller by writing the Job's status. The Job really running, on a full
// control plane, is tested through the AnalysisRun controller in spoke/analysisrun.

type fixture struct {
	t       *testing.T
	c       client.Client
	p       *job.Provider
	run     *v1alpha1.AnalysisRun
	mu      sync.Mutex
	deletes []client.DeleteOptions
}

// env is the API server the tests share, each in its own namespace.
var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	harness.HandleSignals(os.Stderr)
	dir, err := os.MkdirTemp("", "flotilla-job-env-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env, err = harness.StartEnv(harness.EnvOptions{
		Dir: dir, CRDDirs: []string{harness.SpokeCRDDir}, Scheme: harness.NewScheme(v1alpha1.AddToScheme),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		code = 1
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "logs kept in", dir)
	}
	return code
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ns := env.Namespace(t)
	f := &fixture{t: t}
	base, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	f.c = interceptor.NewClient(base, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			var o client.DeleteOptions
			o.ApplyOptions(opts)
			f.mu.Lock()
			f.deletes = append(f.deletes, o)
			f.mu.Unlock()
			return c.Delete(ctx, obj, opts...)
		},
	})
	f.p = job.New(job.Options{Client: f.c, Reader: env.Client})
	f.run = &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary-checkout-7f9c"},
		Spec:       v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{smokeMetric()}},
	}
	if err := env.Client.Create(context.Background(), f.run); err != nil {
		t.Fatal(err)
	}
	return f
}

func smokeMetric() v1alpha1.Metric {
	return v1alpha1.Metric{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{
		Metadata: metav1.ObjectMeta{Labels: map[string]string{"team": "payments"}, Annotations: map[string]string{"note": "smoke test"}},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "smoke", Image: "curlimages/curl:8.10.1", Args: []string{"-f", "http://checkout/healthz"}}},
			}},
		},
	}}}
}

func (f *fixture) request(ordinal int32, inFlight *v1alpha1.Measurement) analysis.Request {
	return analysis.Request{
		Metric: smokeMetric(), Namespace: f.run.Namespace, RunName: f.run.Name, RunUID: string(f.run.UID),
		Ordinal: ordinal, InFlight: inFlight,
	}
}

func (f *fixture) measure(req analysis.Request) analysis.Value {
	f.t.Helper()
	v, err := f.p.Measure(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Measure: %v", err)
	}
	return v
}

func (f *fixture) jobs() []batchv1.Job {
	f.t.Helper()
	var list batchv1.JobList
	if err := f.c.List(context.Background(), &list, client.InNamespace(f.run.Namespace)); err != nil {
		f.t.Fatal(err)
	}
	return list.Items
}

// finish writes the status the Job controller writes when the Job succeeds or fails.
func (f *fixture) finish(name string, succeeded bool) {
	f.t.Helper()
	ctx := context.Background()
	j := &batchv1.Job{}
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: f.run.Namespace, Name: name}, j); err != nil {
		f.t.Fatal(err)
	}
	now := metav1.Now()
	j.Status.StartTime = &now
	if succeeded {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: now},
		}
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}
	}
	if err := f.c.Status().Update(ctx, j); err != nil {
		f.t.Fatalf("writing the Job's status: %v", err)
	}
}

func inFlight(v analysis.Value) *v1alpha1.Measurement {
	return &v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: v.Metadata}
}

// TestJobLifecycle: the first call creates the Job, owned by the run, with the metric's
// metadata and spec; a repeated first call (a restarted controller) takes the same Job
// over; resumed calls are pending until the Job is Complete, then Successful; a Job that
// fails makes the verdict Failed with the Job's reason.
func TestJobLifecycle(t *testing.T) {
	f := setup(t)
	v := f.measure(f.request(1, nil))
	name := job.Name(f.run.Name, string(f.run.UID), "smoke", 1)
	if !v.Pending || v.Verdict != "" || v.Metadata[job.MetadataJobName] != name || v.Metadata[job.MetadataJobNamespace] != f.run.Namespace {
		t.Fatalf("first value = %#v", v)
	}
	jobs := f.jobs()
	if len(jobs) != 1 {
		t.Fatalf("jobs = %d, want 1", len(jobs))
	}
	j := jobs[0]
	ref := metav1.GetControllerOf(&j)
	if ref == nil || ref.UID != f.run.UID || ref.Kind != "AnalysisRun" || ref.APIVersion != v1alpha1.GroupVersion.String() ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller reference = %+v", ref)
	}
	if j.Labels["team"] != "payments" || j.Labels[job.LabelRunUID] != string(f.run.UID) || j.Annotations["note"] != "smoke test" ||
		j.Annotations[job.AnnotationRun] != f.run.Name || j.Annotations[job.AnnotationMetric] != "smoke" || j.Annotations[job.AnnotationOrdinal] != "1" {
		t.Errorf("labels %v, annotations %v", j.Labels, j.Annotations)
	}
	if c := j.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Image != "curlimages/curl:8.10.1" || *j.Spec.BackoffLimit != 0 {
		t.Errorf("spec = %+v", j.Spec)
	}

	// A controller that restarted before it recorded the measurement asks again.
	if again := f.measure(f.request(1, nil)); again.Metadata[job.MetadataJobName] != name || !again.Pending {
		t.Fatalf("second start = %#v", again)
	}
	if n := len(f.jobs()); n != 1 {
		t.Fatalf("a repeated start made %d Jobs, want 1", n)
	}

	if v = f.measure(f.request(1, inFlight(v))); !v.Pending {
		t.Fatalf("resumed before the Job finished = %#v", v)
	}
	f.finish(name, true)
	if v = f.measure(f.request(1, inFlight(v))); v.Pending || v.Verdict != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("after the Job completed = %#v", v)
	}

	failing := f.measure(f.request(2, nil))
	f.finish(failing.Metadata[job.MetadataJobName], false)
	v = f.measure(f.request(2, inFlight(failing)))
	if v.Verdict != v1alpha1.AnalysisPhaseFailed || v.Text != "Failed: BackoffLimitExceeded: Job has reached the specified backoff limit" {
		t.Fatalf("after the Job failed = %#v", v)
	}
}

// TestTerminate: Terminate deletes the Job with background propagation (its pods go too);
// a Job already gone is no error; resuming a measurement whose Job is gone is an error.
func TestTerminate(t *testing.T) {
	f := setup(t)
	v := f.measure(f.request(1, nil))
	req := f.request(1, inFlight(v))
	if err := f.p.Terminate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if n := len(f.jobs()); n != 0 {
		t.Fatalf("%d Jobs left after Terminate", n)
	}
	if len(f.deletes) != 1 || f.deletes[0].PropagationPolicy == nil || *f.deletes[0].PropagationPolicy != metav1.DeletePropagationBackground {
		t.Fatalf("delete options = %+v", f.deletes)
	}
	if err := f.p.Terminate(context.Background(), req); err != nil {
		t.Fatalf("Terminate of a Job already gone: %v", err)
	}
	_, err := f.p.Measure(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("resuming a deleted Job: %v", err)
	}
}

// TestForeignJob: a Job of the expected name that another run owns is not taken over.
func TestForeignJob(t *testing.T) {
	f := setup(t)
	other := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.run.Namespace, Name: job.Name(f.run.Name, string(f.run.UID), "smoke", 1)},
		Spec:       *smokeMetric().Provider.Job.Spec.DeepCopy(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Measure(ctx, f.request(1, nil))
	if err == nil || !strings.Contains(err.Error(), "does not belong to this AnalysisRun") {
		t.Fatalf("Measure with a foreign Job in the way: %v", err)
	}
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil || metav1.GetControllerOf(other) != nil {
		t.Fatalf("the foreign Job was changed: %v %+v", err, other.OwnerReferences)
	}
}

func TestName(t *testing.T) {
	long := strings.Repeat("checkout-", 10)
	for _, tc := range []struct{ run, uid, metric string }{
		{"canary-7f9c", "6b0c2f4e-8f7a-4c1e-9a57-000000000001", "smoke"},
		{long, "6b0c2f4e-8f7a-4c1e-9a57-000000000001", "Error Rate (p99)"},
		{"r", "u", "..."},
	} {
		for _, ordinal := range []int32{1, 12345} {
			n := job.Name(tc.run, tc.uid, tc.metric, ordinal)
			if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
				t.Errorf("Name(%q, %q, %d) = %q: %v", tc.run, tc.metric, ordinal, n, errs)
			}
			if n != job.Name(tc.run, tc.uid, tc.metric, ordinal) {
				t.Errorf("Name is not deterministic")
			}
		}
	}
	a := job.Name("r", "uid-1", "smoke", 1)
	for _, other := range []string{job.Name("r", "uid-2", "smoke", 1), job.Name("r", "uid-1", "Smoke", 1), job.Name("r", "uid-1", "smoke", 2)} {
		if other == a {
			t.Errorf("%q is shared by two measurements", a)
		}
	}
}
