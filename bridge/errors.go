package bridge

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicemq/sluice/core/pipeline"
)

// Confluent REST Proxy v2 error codes: the HTTP status times 100 plus a
// sub-code, so clients written against REST Proxy can switch on them.
const (
	codeUnauthorized       = 40101
	codeForbidden          = 40301
	codeOriginForbidden    = 40302
	codeNotFound           = 40400
	codeTopicNotFound      = 40401
	codePartitionNotFound  = 40402
	codeConsumerNotFound   = 40403
	codeMethodNotAllowed   = 40501
	codeNotAcceptable      = 40601
	codeRequestTimeout     = 40801
	codeConsumerExists     = 40902
	codeBodyTooLarge       = 41301
	codeUnsupportedMedia   = 41501
	codeUnprocessable      = 42201
	codeNoSubscription     = 40903
	codeRateLimited        = 42901
	codeInternal           = 50001
	codeKafka              = 50002
	codeKafkaRetriable     = 50003
	codeTooManyStreams     = 50301
	codeTooManyConsumers   = 50302
	codeProducerOverloaded = 42902
	// A topic's plugin refused the records on purpose (sdk.Reject,
	// sdk.Policy; Kafka: INVALID_RECORD / POLICY_VIOLATION): resending
	// them unchanged fails again.
	codePluginRefused = 42210
	// A topic's plugin failed (trap, panic, timeout, out of memory,
	// malformed answer; Kafka: POLICY_VIOLATION): the records were fine
	// as far as the bridge knows, the plugin is broken.
	codePluginFailed = 50201
)

// apiError is an error with the HTTP status and v2 error code it answers.
type apiError struct {
	Status     int
	Code       int
	Message    string
	RetryAfter time.Duration // > 0 adds a Retry-After header
}

func (e *apiError) Error() string { return e.Message }

func errf(status, code int, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// Sentinel errors of the bridge's Kafka side; handlers map them to HTTP.
var (
	ErrTopicNotFound     = errors.New("topic not found")
	ErrPartitionNotFound = errors.New("partition not found")
	ErrOverloaded        = errors.New("producer buffer full")
	ErrUnavailable       = errors.New("broker unavailable")
	ErrClosed            = errors.New("bridge closed")
)

// toAPIError maps any error to the API error answered for it.
func toAPIError(err error) *apiError {
	var ae *apiError
	var pe *pipeline.PluginError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &pe):
		return pluginAPIError(pe, false)
	case errors.Is(err, ErrTopicNotFound):
		return errf(http.StatusNotFound, codeTopicNotFound, "Topic not found.")
	case errors.Is(err, ErrPartitionNotFound):
		return errf(http.StatusNotFound, codePartitionNotFound, "Partition not found.")
	case errors.Is(err, ErrOverloaded):
		return &apiError{Status: http.StatusTooManyRequests, Code: codeProducerOverloaded,
			Message: "The producer is overloaded; retry later.", RetryAfter: time.Second}
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return &apiError{Status: http.StatusServiceUnavailable, Code: codeKafkaRetriable,
			Message: "Kafka is unavailable: " + err.Error(), RetryAfter: 2 * time.Second}
	default:
		return errf(http.StatusInternalServerError, codeInternal, "Internal error: "+err.Error())
	}
}

// pluginAPIError answers a plugin's refusal (422/42210) or failure
// (502/50201). The message names the hook and topic and carries the
// plugin's own text (its refusal message, a Go plugin's panic line) but
// never a stack trace or wasm frames (PluginError.Message). Anonymous
// clients (beacons, pixels, the tracker) get a refusal's message but only
// the fact of a failure: a panic's text may quote their data or the
// plugin's internals, and it is in the broker log.
func pluginAPIError(pe *pipeline.PluginError, anonymous bool) *apiError {
	hook := pe.Hook
	if hook != "" {
		hook = strings.ToUpper(hook[:1]) + hook[1:]
	}
	what := hook + " plugin of topic " + pe.Topic
	if pe.Refused() {
		return errf(http.StatusUnprocessableEntity, codePluginRefused,
			what+" refused the records: "+pipeline.ClientText(pe.Err.Error()))
	}
	if anonymous {
		return errf(http.StatusBadGateway, codePluginFailed, what+" failed.")
	}
	return errf(http.StatusBadGateway, codePluginFailed, what+" failed: "+pipeline.ClientText(pe.Err.Error()))
}

// anonymousError is err as answered to anonymous endpoints (beacon,
// pixel, collect): a plugin failure without its detail.
func anonymousError(err error) error {
	var pe *pipeline.PluginError
	if errors.As(err, &pe) {
		return pluginAPIError(pe, true)
	}
	return err
}

// recordError is the per-record error text of a produce answer.
func recordError(err error) string {
	var pe *pipeline.PluginError
	if errors.As(err, &pe) {
		return pluginAPIError(pe, false).Message
	}
	return err.Error()
}

// errorBody is the v2 error body.
type errorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// writeError answers err as a v2 error body.
func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	noteErrorCode(w, ae.Code)
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, ae.Status, contentTypeV2JSON, errorBody{ErrorCode: ae.Code, Message: ae.Message})
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error_code":50001,"message":"response encoding failed"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
