package kafka

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc serves one decoded request. It returns the reply to write,
// or nil when the request gets no response (acks=0 produce).
type handlerFunc func(c *conn, h *header, req kmsg.Request) *reply

// api is one Kafka API this server implements, with the version range it
// advertises in ApiVersions and accepts.
type api struct {
	key      int16
	min, max int16
	handle   handlerFunc
}

var apis = map[int16]api{}

// register is called from each NN_name.go file's init. max is clamped to
// what kmsg can encode.
func register[R kmsg.Request](key, minV, maxV int16, fn func(c *conn, h *header, req R) *reply) {
	if _, dup := apis[key]; dup {
		panic(fmt.Sprintf("kafka: API %d registered twice", key))
	}
	if km := kmsg.RequestForKey(key).MaxVersion(); maxV > km {
		maxV = km
	}
	apis[key] = api{key: key, min: minV, max: maxV, handle: func(c *conn, h *header, req kmsg.Request) *reply {
		if c.s.testPrincipal != nil && !c.trusted {
			c.principal = c.s.testPrincipal(c.nc)
		}
		return fn(c, h, req.(R))
	}}
}

// sortedAPIs lists the APIs in key order (ApiVersions answers in order).
func sortedAPIs() []api {
	out := make([]api, 0, len(apis))
	for _, a := range apis {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
