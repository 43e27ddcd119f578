#!/bin/bash
# t49 (check-slow): t29's hostile clients 19 times over, 10,000+
# connections against one server, with the same checks at the end.
HOSTILE_ROUNDS=19 exec "$(dirname "$0")/t29-hostile-tls-clients.sh"
