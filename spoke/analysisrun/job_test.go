package analysisrun_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/analysis/providers/job"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/analysisrun"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestJob runs the Job provider through the controller on a full local control plane:
// kube-controller-manager's Job controller runs the Jobs, kube-scheduler places their pods on
// a kwok node, and kwok plays the kubelet with harness.KwokJobStages (a Job's pod succeeds,
// or fails when labelled harness.KwokFailLabel).
//   - a Job that succeeds makes its metric Successful, one that fails its metric Failed (in
//     dry-run here, so the run is still Successful); both Jobs are owned by the run;
//   - a run terminated while its Job cannot even be scheduled stops the measurement and
//     deletes the Job.
func TestJob(t *testing.T) {
	scheme := harness.NewScheme(v1alpha1.AddToScheme)
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: scheme, Clusters: []harness.ClusterSpec{{
		Name: "member", Nodes: 1, CRDDirs: []string{harness.SpokeCRDDir}, KwokStages: harness.KwokJobStages,
	}}})
	c := fleet.Clusters[0].Client
	startJobController(t, fleet.Clusters[0])
	ns := harness.Namespace(t, c)

	t.Run("success and failure", func(t *testing.T) {
		run := createRunIn(t, c, ns, "smoke-tests", v1alpha1.AnalysisRunSpec{
			Metrics: []v1alpha1.Metric{jobMetric("smoke", nil), jobMetric("doomed", map[string]string{harness.KwokFailLabel: "true"})},
			DryRun:  []v1alpha1.DryRun{{MetricName: "doomed"}},
		})
		got := waitRunIn(t, c, run, "a final phase", 2*time.Minute, func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
		smoke, doomed := metricResult(t, got, "smoke"), metricResult(t, got, "doomed")
		if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || smoke.Phase != v1alpha1.AnalysisPhaseSuccessful ||
			doomed.Phase != v1alpha1.AnalysisPhaseFailed || !doomed.DryRun {
			t.Fatalf("want smoke Successful, doomed Failed in dry-run, the run Successful: %s", describe(got))
		}
		if v := doomed.Measurements[0].Value; !strings.HasPrefix(v, "Failed: ") {
			t.Errorf("the failed Job's measurement value = %q, want the Job's Failed condition", v)
		}
		for metric, cond := range map[string]batchv1.JobConditionType{"smoke": batchv1.JobComplete, "doomed": batchv1.JobFailed} {
			m := metricResult(t, got, metric).Measurements[0]
			j := &batchv1.Job{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: m.Metadata[job.MetadataJobName]}, j); err != nil {
				t.Fatalf("the Job of %s (metadata %v): %v", metric, m.Metadata, err)
			}
			if ref := metav1.GetControllerOf(j); ref == nil || ref.UID != got.UID || ref.Kind != "AnalysisRun" {
				t.Errorf("Job %s is not owned by the run: %+v", j.Name, j.OwnerReferences)
			}
			if !hasJobCondition(j, cond) {
				t.Errorf("Job %s: want condition %s, have %+v", j.Name, cond, j.Status.Conditions)
			}
		}
	})

	t.Run("terminated while in flight", func(t *testing.T) {
		m := jobMetric("unschedulable", nil)
		m.Provider.Job.Spec.Template.Spec.NodeSelector = map[string]string{"flotilla.dev/no-such-node": "true"}
		run := createRunIn(t, c, ns, "stuck", oneMetric(m))
		running := waitRunIn(t, c, run, "its Job in flight", time.Minute, func(r *v1alpha1.AnalysisRun) bool {
			return len(r.Status.MetricResults) == 1 && len(r.Status.MetricResults[0].Measurements) == 1 &&
				r.Status.MetricResults[0].Measurements[0].Phase == v1alpha1.AnalysisPhaseRunning
		})
		name := running.Status.MetricResults[0].Measurements[0].Metadata[job.MetadataJobName]
		key := client.ObjectKey{Namespace: ns, Name: name}
		if err := c.Get(context.Background(), key, &batchv1.Job{}); err != nil {
			t.Fatalf("the Job in flight: %v", err)
		}
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"terminate":true}}`))
		if err := c.Patch(context.Background(), run, patch); err != nil {
			t.Fatal(err)
		}
		got := waitRunIn(t, c, run, "a final phase", time.Minute, func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
		last := got.Status.MetricResults[0].Measurements[0]
		if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || !strings.Contains(last.Message, "stopped") || last.FinishedAt == nil {
			t.Fatalf("want the run Successful, its measurement stopped: %s", describe(got))
		}
		err := harness.WaitFor(context.Background(), "the stopped Job to be deleted", time.Minute, func(ctx context.Context) (bool, string, error) {
			j := &batchv1.Job{}
			err := c.Get(ctx, key, j)
			if apierrors.IsNotFound(err) {
				return true, "", nil
			}
			return false, fmt.Sprintf("Job %s still there (deletionTimestamp %v, error %v)", name, j.DeletionTimestamp, err), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// startJobController runs the AnalysisRun controller against the cluster, with the Job
// provider, until the test ends. Its log goes to the test's log.
func startJobController(t *testing.T, cluster *harness.Cluster) {
	t.Helper()
	mgr, err := newManager(cluster.Config, zap.New(zap.WriteTo(testLog{t}), zap.UseDevMode(true)))
	if err != nil {
		t.Fatal(err)
	}
	r := &analysisrun.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("flotilla-spoke"),
		Providers: providers.New(providers.Deps{
			Secrets: analysisrun.SecretReader{Reader: mgr.GetAPIReader()},
			Extra:   []analysis.Provider{job.New(job.Options{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()})},
		}),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// jobMetric is a metric that runs a one-pod Job with no retries; podLabels go on its pod.
func jobMetric(name string, podLabels map[string]string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{
		Metadata: metav1.ObjectMeta{Labels: map[string]string{"test": "smoke"}},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "smoke", Image: "registry.invalid/flotilla/smoke:1", // kwok never pulls it
						Args: []string{"--target", "http://checkout/healthz"},
					}},
				},
			},
		},
	}}}
}

func hasJobCondition(j *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// testLog turns each write into a line of the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
