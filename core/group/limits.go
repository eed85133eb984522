package group

import (
	"fmt"
	"math"
)

// Group size limits (group.max.size for classic groups,
// group.consumer.max.size for consumer groups): a member that would make
// a group larger than Config.MaxSize is refused with
// GROUP_MAX_SIZE_REACHED; members already in the group, and static
// members taking their instance's place back, are never refused.

// maxSize is the configured limit (unlimited: Kafka's Integer.MAX_VALUE).
func (c *Coordinator) maxSize() int {
	if c.cfg.MaxSize <= 0 {
		return math.MaxInt32
	}
	return c.cfg.MaxSize
}

// classicFull reports whether a classic JoinGroup from a member the
// group does not know (instance: its group.instance.id) must be refused.
// Members handed an id with MEMBER_ID_REQUIRED hold a place: they were
// counted when they got it. g locked.
func (c *Coordinator) classicFull(g *group, memberID string, instance *string) bool {
	if memberID != "" && g.pending[memberID] {
		return false
	}
	if instance != nil {
		if _, known := g.static[*instance]; known {
			return false // replaces its old member
		}
	}
	return len(g.members)+len(g.pending) >= c.maxSize()
}

// consumerFullMessage is Kafka's message for a full consumer group.
func consumerFullMessage(max int) string {
	return fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", max)
}
