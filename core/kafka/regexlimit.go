package kafka

import (
	"fmt"

	"github.com/sluicemq/sluice/core/group"
)

// maxClientRegexLen bounds a regular expression a client sends
// (ListTransactions v2's transactional id pattern, ConsumerGroupHeartbeat
// v1's subscribed topic regex) before it is compiled: Go's RE2 matches in
// linear time, but compiling a pattern costs memory in proportion to its
// size (up to a 100 MiB request's worth), per request. Real patterns are
// a few dozen bytes; Kafka's own topic names are at most 249. One bound
// for every pattern: the group coordinator applies the same one to the
// subscriptions it stores.
const maxClientRegexLen = group.MaxTopicRegexLen

// errRegexTooLong is the message of INVALID_REGULAR_EXPRESSION for a
// pattern over maxClientRegexLen.
func errRegexTooLong(n int) string {
	return fmt.Sprintf("the regular expression is %d bytes long; at most %d are accepted", n, maxClientRegexLen)
}
