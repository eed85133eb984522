//go:build !wasip1

package sdktest

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/sdk"
)

// Each test registers its own hook: a plugin registers one in init, and
// the SDK keeps whichever was registered last.

func TestPartition(t *testing.T) {
	sdk.Partitioner(func(r sdk.Record, n int) int {
		if sdk.Topic() != "orders" {
			return n // out of range: fails the test below
		}
		if h, ok := r.Header("p"); ok {
			return int(h[0] - '0')
		}
		return len(r.Key) % n
	})
	h := Harness{Topic: "orders"}
	parts, err := h.Partition(3, Rec("ab", "x"), Rec("abcd", "y"), Rec("", "z", "p", "2"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 1, 2}; !reflect.DeepEqual(parts, want) {
		t.Fatalf("partitions %v, want %v", parts, want)
	}
	if _, err := Partition(3, Rec("k", "v")); err == nil || err.Error() != "sdktest: record 0: partition 3 of 3" {
		t.Fatalf("out-of-range partition: err %v", err)
	}
}

func TestTransformOutcomes(t *testing.T) {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		limit := sdk.ConfigOr("limit", "10")
		switch {
		case string(r.Value) == "drop":
		case string(r.Value) == "emit":
			w.Emit("dlq-"+sdk.Topic(), r)
		case string(r.Value) == "split":
			w.Write(sdk.Record{Key: r.Key, Value: []byte("a")})
			w.Write(sdk.Record{Key: r.Key, Value: []byte("b")})
		case string(r.Value) == "same":
			w.Write(r) // written back unchanged: kept
		case len(r.Value) > len(limit):
			return sdk.Policy("value of %d bytes over %s", len(r.Value), limit)
		case strings.HasPrefix(string(r.Value), " "):
			r.Value = []byte(strings.TrimSpace(string(r.Value)))
			r.Headers = append(r.Headers, sdk.Header{Key: "trimmed", Value: []byte("1")})
			w.Write(r)
		default:
			w.Keep()
		}
		return nil
	})
	h := Harness{Topic: "logs", Config: map[string]string{"limit": "abcdef"}}
	res, err := h.Transform(Rec("1", "ok"), Rec("2", "drop"), Rec("3", "emit"), Rec("4", "split"),
		Rec("5", "same", "h", "v"), Rec("6", " pad"))
	if err != nil {
		t.Fatal(err)
	}
	wantOutcomes := []Outcome{Kept, Dropped, Dropped, Changed, Kept, Changed}
	if !reflect.DeepEqual(res.Outcomes, wantOutcomes) || !reflect.DeepEqual(res.Outputs, []int{1, 0, 0, 2, 1, 1}) {
		t.Fatalf("outcomes %v outputs %v", res.Outcomes, res.Outputs)
	}
	if res.Kept != 2 || res.Changed != 2 || res.Dropped != 2 || res.Added != 1 {
		t.Fatalf("counts kept %d changed %d dropped %d added %d", res.Kept, res.Changed, res.Dropped, res.Added)
	}
	var values []string
	for _, r := range res.Records {
		values = append(values, string(r.Key)+"="+string(r.Value))
	}
	if want := []string{"1=ok", "4=a", "4=b", "5=same", "6=pad"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("records %v, want %v", values, want)
	}
	if v, ok := res.Records[4].Header("trimmed"); !ok || string(v) != "1" {
		t.Fatalf("trimmed header %q %v", v, ok)
	}
	if len(res.Emits) != 1 || res.Emits[0].Topic != "dlq-logs" || string(res.Emits[0].Record.Key) != "3" {
		t.Fatalf("emits %+v", res.Emits)
	}

	// A refusal fails the whole batch with the broker's message; the
	// configuration is the harness's (limit "abcdef": 6 bytes).
	_, err = h.Transform(Rec("1", "ok"), Rec("2", "much too long"))
	var re *sdk.RefusalError
	if !errors.As(err, &re) || !re.Policy || re.Message != "record 1: value of 13 bytes over abcdef" {
		t.Fatalf("refusal: %v", err)
	}
	// Configuration does not leak out of a harness call.
	if _, ok := sdk.Config("limit"); ok {
		t.Fatal("configuration left behind")
	}
}

func TestTransformReject(t *testing.T) {
	sdk.Transform(func(r sdk.Record, w sdk.Writer) error {
		if r.Key == nil {
			return sdk.Reject("no key")
		}
		w.Keep()
		return nil
	})
	_, err := Transform(Rec("a", "1"), Rec("", "2"))
	var re *sdk.RefusalError
	if !errors.As(err, &re) || re.Policy || re.Message != "record 1: no key" {
		t.Fatalf("reject: %#v", err)
	}
}

func TestFilter(t *testing.T) {
	sdk.FilterMap(func(r sdk.Record, rd sdk.Reader) (sdk.Record, bool) {
		tenant, _ := r.Header("tenant")
		if "User:"+string(tenant) != rd.Principal {
			return r, false
		}
		if rd.GroupID == "redact" {
			r.Value = []byte("***")
		}
		return r, true
	})
	recs := []sdk.Record{Rec("a", "1", "tenant", "acme"), Rec("b", "2", "tenant", "other"), Rec("c", "3", "tenant", "acme")}
	for i := range recs {
		recs[i].Offset = int64(100 + i)
	}
	res, err := Filter(sdk.Reader{Principal: "User:acme"}, recs...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Outcomes, []Outcome{Kept, Dropped, Kept}) || res.Kept != 2 || res.Dropped != 1 {
		t.Fatalf("outcomes %v", res.Outcomes)
	}
	if len(res.Records) != 2 || res.Records[1].Offset != 102 || string(res.Records[1].Value) != "3" {
		t.Fatalf("records %+v", res.Records)
	}
	res, err = Filter(sdk.Reader{Principal: "User:acme", GroupID: "redact"}, recs...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Outcomes, []Outcome{Changed, Dropped, Changed}) || res.Changed != 2 ||
		string(res.Records[0].Value) != "***" || res.Records[0].Offset != 100 {
		t.Fatalf("redacted: %v %+v", res.Outcomes, res.Records)
	}
	// Anonymous readers see nothing of a tenant's records.
	if res, err = Filter(sdk.Reader{}, recs...); err != nil || res.Dropped != 3 {
		t.Fatalf("anonymous: %+v %v", res, err)
	}
}

func TestNoHookRegistered(t *testing.T) {
	// The SDK refuses a hook nobody registered, with its own message.
	sdk.Partitioner(nil)
	if _, err := Partition(2, Rec("k", "v")); err == nil || err.Error() != "sdk: no partitioner registered" {
		t.Fatalf("err %v", err)
	}
}
