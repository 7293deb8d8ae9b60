package trafficrouting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// JSONPatch is an RFC 6902 JSON patch. Routers edit objects that users own (a stable
// Ingress, a VirtualService, a DestinationRule) with one: it names exactly the fields the
// router changes, and its "test" operations pin the list entries it changes (a route's name,
// a destination's host), so that a concurrent edit that moved them makes the patch fail
// instead of changing the wrong entry. Nothing else of the object is sent, so nothing else
// can be overwritten.
type JSONPatch []JSONPatchOp

// JSONPatchOp is one operation of a JSONPatch.
type JSONPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// MarshalJSON writes the value of every operation but "remove", even a zero one: a "test"
// or "add" of 0, "" or false is a valid operation, and one without its value is refused.
func (o JSONPatchOp) MarshalJSON() ([]byte, error) {
	if o.Op == "remove" {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{o.Op, o.Path})
	}
	return json.Marshal(struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}{o.Op, o.Path, o.Value})
}

// Test adds a "test" operation: the patch fails unless path holds value.
func (p *JSONPatch) Test(path string, value any) {
	*p = append(*p, JSONPatchOp{Op: "test", Path: path, Value: value})
}

// Add adds an "add" operation: it sets an object member or inserts into a list at path.
func (p *JSONPatch) Add(path string, value any) {
	*p = append(*p, JSONPatchOp{Op: "add", Path: path, Value: value})
}

// Replace adds a "replace" operation.
func (p *JSONPatch) Replace(path string, value any) {
	*p = append(*p, JSONPatchOp{Op: "replace", Path: path, Value: value})
}

// Remove adds a "remove" operation.
func (p *JSONPatch) Remove(path string) {
	*p = append(*p, JSONPatchOp{Op: "remove", Path: path})
}

// Changes reports whether the patch changes anything, that is whether it has an operation
// other than "test".
func (p JSONPatch) Changes() bool {
	for _, op := range p {
		if op.Op != "test" {
			return true
		}
	}
	return false
}

// Pointer builds a JSON pointer (RFC 6901) from path tokens: strings are escaped, ints are
// list indexes. Pointer("metadata", "annotations", "a/b") is "/metadata/annotations/a~1b".
func Pointer(tokens ...any) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		switch v := t.(type) {
		case string:
			b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(v))
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			panic(fmt.Sprintf("trafficrouting.Pointer: token %v is neither a string nor an int", t))
		}
	}
	return b.String()
}

// ErrChanged says that an object changed between the router's read and its patch, so that
// a "test" operation of the patch failed and nothing was written. It is transient: the next
// try reads the object again.
var ErrChanged = errors.New("the object changed since it was read, so the patch was refused and nothing was written")

// ApplyJSONPatch sends p to obj with FieldManager, and does nothing (no request at all) when
// p changes nothing. obj is updated from the server's answer. A failed "test" operation
// returns an error that wraps ErrChanged.
func ApplyJSONPatch(ctx context.Context, c client.Client, obj client.Object, p JSONPatch) error {
	if !p.Changes() {
		return nil
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, data), client.FieldOwner(FieldManager))
	var status apierrors.APIStatus
	if apierrors.IsInvalid(err) && errors.As(err, &status) {
		// The API server answers a failed test with 422 and no field causes; a patched
		// object that fails validation comes with the fields at fault.
		if d := status.Status().Details; d == nil || len(d.Causes) == 0 {
			return fmt.Errorf("%w: %w", ErrChanged, err)
		}
	}
	return err
}
