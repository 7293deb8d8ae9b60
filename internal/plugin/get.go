package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Gather reads the Rollout and everything Tree shows of it.
func Gather(ctx context.Context, c client.Client, ns, name string) (Tree, error) {
	ro := &v1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return Tree{}, err
	}
	t := Tree{Rollout: ro}
	rss, err := ownedReplicaSets(ctx, c, ro)
	if err != nil {
		return Tree{}, err
	}
	t.ReplicaSets = rss
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return Tree{}, err
	}
	t.Pods = pods.Items
	ars := &v1alpha1.AnalysisRunList{}
	if err := c.List(ctx, ars, client.InNamespace(ns)); err != nil {
		return Tree{}, err
	}
	for _, ar := range ars.Items {
		if ref := metav1.GetControllerOf(&ar); ref != nil && ref.UID == ro.UID {
			t.AnalysisRuns = append(t.AnalysisRuns, ar)
		}
	}
	exs := &v1alpha1.ExperimentList{}
	if err := c.List(ctx, exs, client.InNamespace(ns)); err != nil {
		return Tree{}, err
	}
	for _, ex := range exs.Items {
		if ref := metav1.GetControllerOf(&ex); ref != nil && ref.UID == ro.UID {
			t.Experiments = append(t.Experiments, ex)
		}
	}
	return t, nil
}

func newGetRolloutCommand(o *Options) *cobra.Command {
	return getCommand(o, "rollout NAME [--watch]", []string{"rollouts", "ro"},
		"Show a Rollout, its revisions, ReplicaSets, pods, AnalysisRuns and Experiments as a tree",
		"re-render the tree whenever the Rollout or its objects change (default false)",
		func(ctx context.Context, c client.Client, key client.ObjectKey, w io.Writer) error {
			t, err := Gather(ctx, c, key.Namespace, key.Name)
			if err != nil {
				return err
			}
			Render(w, t, o.now())
			return nil
		}, &v1alpha1.RolloutList{}, &appsv1.ReplicaSetList{}, &corev1.PodList{}, &v1alpha1.AnalysisRunList{})
}

// getCommand shows the named object of the namespace as draw draws it, once or, with --watch,
// again on every change of an object of the kinds of lists.
func getCommand(o *Options, use string, aliases []string, short, watchHelp string,
	draw func(ctx context.Context, c client.Client, key client.ObjectKey, w io.Writer) error, lists ...client.ObjectList) *cobra.Command {
	var (
		watchFlag bool
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			key := client.ObjectKey{Namespace: ns, Name: args[0]}
			return o.render(cmd.Context(), c, ns, watchFlag, timeout, func(ctx context.Context, w io.Writer) error {
				return draw(ctx, c, key, w)
			}, lists...)
		},
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, watchHelp)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --watch, stop watching after this long; 0, the default, watches until interrupted")
	return cmd
}

// render writes what draw draws once or, with watch, again on every change of an object of
// the kinds of lists in ns (only when the drawing changed), until timeout passes (a normal
// end) or ctx ends.
func (o *Options) render(ctx context.Context, c client.WithWatch, ns string, watch bool, timeout time.Duration,
	draw func(ctx context.Context, w io.Writer) error, lists ...client.ObjectList) error {
	if !watch {
		return draw(ctx, o.Streams.Out)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var last []byte
	err := watchNamespace(ctx, c, ns, func() (bool, error) {
		var b bytes.Buffer
		if err := draw(ctx, &b); err != nil {
			return false, err
		}
		if !bytes.Equal(b.Bytes(), last) {
			if last != nil {
				fmt.Fprintln(o.Streams.Out)
			}
			_, _ = o.Streams.Out.Write(b.Bytes())
			last = b.Bytes()
		}
		return false, nil
	}, lists...)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // --timeout ends a watch normally
	}
	return err
}

// watchNamespace calls check once, and again after every change to an object of the kinds
// of lists in ns, until check says done, check fails or ctx ends. Watches the server ends
// are started again.
func watchNamespace(ctx context.Context, c client.WithWatch, ns string, check func() (bool, error), lists ...client.ObjectList) error {
	events := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, l := range lists {
		go func() {
			for wctx.Err() == nil {
				w, err := c.Watch(wctx, l.DeepCopyObject().(client.ObjectList), client.InNamespace(ns))
				if err != nil {
					select {
					case <-wctx.Done():
					case <-time.After(time.Second):
					}
					continue
				}
				for ev := range w.ResultChan() {
					if ev.Type == watch.Error {
						break
					}
					select {
					case events <- struct{}{}:
					default:
					}
				}
				w.Stop()
			}
		}()
	}
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-events:
		case <-time.After(5 * time.Second): // ages, and a safety net for a lost watch
		}
	}
}
