package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1validation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/charts"
)

// kindSchema is what the API server validates one kind's objects with.
type kindSchema struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
	// hasStatus says the status subresource is on: a create drops status.
	hasStatus bool
	// specReplicasPath is the scale subresource's replicas path, "" without one.
	specReplicasPath string
}

// Linter validates manifests offline against the CRDs embedded from the charts, with the
// API server's own code: the OpenAPI schema, the CEL rules, list-type invariants and
// metadata checks, so that its messages are the ones `kubectl apply` would print.
type Linter struct {
	kinds map[schema.GroupVersionKind]*kindSchema
}

// NewLinter loads every embedded CRD.
func NewLinter() (*Linter, error) {
	l := &Linter{kinds: map[schema.GroupVersionKind]*kindSchema{}}
	err := fs.WalkDir(charts.CRDs, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := fs.ReadFile(charts.CRDs, path)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return l.add(crd)
	})
	if err != nil {
		return nil, fmt.Errorf("loading the embedded CRDs: %w", err)
	}
	return l, nil
}

func (l *Linter) add(crd *apiextensionsv1.CustomResourceDefinition) error {
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		internal := &apiextensionsinternal.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return fmt.Errorf("%s %s: %w", crd.Name, v.Name, err)
		}
		ss, err := structuralschema.NewStructural(internal)
		if err != nil {
			return fmt.Errorf("%s %s: not a structural schema: %w", crd.Name, v.Name, err)
		}
		validator, _, err := apiservervalidation.NewSchemaValidator(internal)
		if err != nil {
			return fmt.Errorf("%s %s: %w", crd.Name, v.Name, err)
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		ks := &kindSchema{
			gvk:        gvk,
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: ss,
			validator:  validator,
			cel:        cel.NewValidator(ss, true, celconfig.PerCallLimit),
		}
		if sub := v.Subresources; sub != nil {
			ks.hasStatus = sub.Status != nil
			if sub.Scale != nil {
				ks.specReplicasPath = sub.Scale.SpecReplicasPath
			}
		}
		l.kinds[gvk] = ks
	}
	return nil
}

// Lint validates one object as the API server would on create, with strict field
// validation. It returns nil for a valid object, and otherwise an error whose text is the
// API server's.
func (l *Linter) Lint(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	ks, ok := l.kinds[gvk]
	if !ok {
		return fmt.Errorf("%s %q: not a Flotilla kind (known: rollouts.flotilla.dev and fleet.flotilla.dev v1alpha1)", gvk, obj.GetName())
	}
	gk := gvk.GroupKind()

	// Strict field validation: the API server refuses unknown fields with a BadRequest.
	pruned := structuralpruning.PruneWithOptions(obj.Object, ks.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if len(pruned) > 0 {
		msgs := make([]string, len(pruned))
		for i, p := range pruned {
			msgs[i] = fmt.Sprintf("unknown field %q", p)
		}
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s",
			gk.Kind, gvk.Version, gk.Kind, strings.Join(msgs, ", ")))
	}
	if ks.hasStatus {
		delete(obj.Object, "status") // a create never sets status
	}
	structuraldefaulting.Default(obj.Object, ks.structural)

	if obj.GetNamespace() == "" && ks.namespaced {
		obj.SetNamespace("default") // the namespace kubectl would apply to
	}
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateObjectMetaAccessor(obj, ks.namespaced, metav1validation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj.UnstructuredContent(), ks.validator)...)
	errs = append(errs, ks.validateScaleSpec(obj)...)
	errs = append(errs, schemaobjectmeta.Validate(nil, obj.Object, ks.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, ks.structural, obj.Object)...)
	if blocking := blockingErr(errs); blocking != nil {
		errs = append(errs, blocking)
	} else {
		celErrs, _ := ks.cel.Validate(ctx, nil, ks.structural, obj.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(gk, obj.GetName(), errs)
}

// validateScaleSpec checks the replicas of the scale subresource as the API server does.
func (ks *kindSchema) validateScaleSpec(obj *unstructured.Unstructured) field.ErrorList {
	if ks.specReplicasPath == "" {
		return nil
	}
	path := strings.Split(strings.TrimPrefix(ks.specReplicasPath, "."), ".")
	replicas, _, err := unstructured.NestedInt64(obj.Object, path...)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(field.NewPath(ks.specReplicasPath), replicas, err.Error())}
	case replicas < 0:
		return field.ErrorList{field.Invalid(field.NewPath(ks.specReplicasPath), replicas, "should be a non-negative integer")}
	case replicas > math.MaxInt32:
		return field.ErrorList{field.Invalid(field.NewPath(ks.specReplicasPath), replicas, fmt.Sprintf("should be less than or equal to %v", math.MaxInt32))}
	}
	return nil
}

// blockingErr is the error the API server adds, instead of evaluating the CEL rules, when
// the schema found a missing, unsupported, too long or mistyped value (as its
// customResourceStrategy does); nil when the CEL rules are to run.
func blockingErr(errs field.ErrorList) *field.Error {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return nil
}

// LintFile validates every document of a YAML stream and writes one line per object to
// out. It returns the number of invalid objects.
func (l *Linter) LintFile(ctx context.Context, name string, r io.Reader, out io.Writer) (int, error) {
	dec := utilyaml.NewYAMLReader(bufio.NewReader(r))
	bad := 0
	for i := 0; ; i++ {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			return bad, fmt.Errorf("%s: %w", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{}
		// Through JSON, so that integers stay int64 as the API server decodes them.
		js, err := yaml.YAMLToJSON(doc)
		if err == nil {
			err = obj.UnmarshalJSON(js)
		}
		if err != nil {
			bad++
			fmt.Fprintf(out, "%s: document %d: %v\n", name, i+1, err)
			continue
		}
		what := fmt.Sprintf("%s/%s", obj.GetKind(), obj.GetName())
		if err := l.Lint(ctx, obj); err != nil {
			bad++
			fmt.Fprintf(out, "%s: %s: %v\n", name, what, err)
			continue
		}
		fmt.Fprintf(out, "%s: %s: valid\n", name, what)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range strings.Lines(string(doc)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.Bytes()
}

func newLintCommand(o *Options) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "lint -f FILE...",
		Short: "Validate manifests offline, with the messages the API server would give",
		Long: "lint validates Rollouts, AnalysisTemplates, Experiments and the fleet kinds against the CRDs\n" +
			"this plugin was built with (OpenAPI schema and CEL rules), without a cluster. '-' reads stdin.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("lint needs -f FILE")
			}
			l, err := NewLinter()
			if err != nil {
				return err
			}
			bad := 0
			for _, f := range files {
				var r io.Reader
				if f == "-" {
					r = o.Streams.In
				} else {
					fh, err := os.Open(f)
					if err != nil {
						return err
					}
					defer fh.Close() //nolint:errcheck // read only
					r = fh
				}
				n, err := l.LintFile(cmd.Context(), f, r, o.Streams.Out)
				if err != nil {
					return err
				}
				bad += n
			}
			if bad > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%d invalid object(s)", bad)}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest files to validate ('-' for stdin); required")
	return cmd
}
