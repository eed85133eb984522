package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: versions 0–4. An unknown (newer) version is answered with a
// v0 response carrying UNSUPPORTED_VERSION and our ranges, as Kafka does,
// so the client retries with a version we speak.
func init() { register(18, 0, 4, (*conn).handleApiVersions) }

func apiVersionsKeys(resp *kmsg.ApiVersionsResponse) {
	for _, a := range sortedAPIs() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
}

func apiVersionsUnsupported() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	apiVersionsKeys(resp)
	return resp
}

func (c *conn) handleApiVersions(h *header, req *kmsg.ApiVersionsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	apiVersionsKeys(resp)
	return c.ready(h, resp)
}
