package engine

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// restart replaces the pods created before spec.restartAt, a few at a time: as many as
// maxUnavailable allows, one at a time when it allows none. It restarts the pods of a
// Rollout with no update under way; an update replaces pods anyway, and the restart
// resumes once it is over. status.restartedAt records the restartAt it finished.
func (e *engine) restart() {
	at := e.ro.Spec.RestartAt
	if at == nil || (e.st.RestartedAt != nil && !e.st.RestartedAt.Before(at)) {
		return
	}
	if e.now.Before(at.Time) {
		e.requeueAt(at.Time)
		return
	}
	if e.updating() || e.st.Abort || e.halted || e.newRS == nil {
		return
	}
	var stale []Pod
	var available, terminating int32
	for _, p := range e.obs.Pods {
		if p.PodTemplateHash != e.hash {
			continue
		}
		switch {
		case p.Terminating:
			terminating++
		case p.CreationTimestamp.Before(at.Time):
			stale = append(stale, p)
			if p.Available {
				available++
			}
		case p.Available:
			available++
		}
	}
	if len(stale) == 0 {
		if terminating == 0 {
			t := metav1.NewTime(at.Time)
			e.st.RestartedAt = &t
			e.event(corev1.EventTypeNormal, EventReasonRestartFinished, "Every pod created before %s was restarted", at.UTC().Format("2006-01-02T15:04:05Z"))
		}
		return
	}
	budget := available - (e.replicas - e.maxUnavailable)
	if budget < 1 && terminating == 0 && available >= e.replicas {
		budget = 1
	}
	// Unavailable pods cost no availability: restart them first, then the oldest.
	sort.SliceStable(stale, func(i, j int) bool {
		if stale[i].Available != stale[j].Available {
			return !stale[i].Available
		}
		return stale[i].CreationTimestamp.Before(stale[j].CreationTimestamp)
	})
	var evicted []string
	for _, p := range stale {
		if p.Available {
			if budget <= 0 {
				break
			}
			budget--
		}
		e.add(phaseCleanup, EvictPod{Name: p.Name})
		evicted = append(evicted, p.Name)
	}
	if len(evicted) > 0 {
		e.event(corev1.EventTypeNormal, EventReasonRestartedPods, "Restarting %d pod(s) for spec.restartAt", len(evicted))
		e.progressed = true
	}
	e.wait("restarting pods created before spec.restartAt")
}
