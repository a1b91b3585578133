/*
 * ipc_fuzz.c — the check every datagram between mxgate's roles passes
 * (ipc_decode(), relay/ipc.c): any bytes, with or without a descriptor.
 * Invariants: a message is accepted only with a known type, exactly its
 * payload length and its descriptor rule; an accepted one re-encodes to
 * the same bytes; the payload copy never exceeds IPC_PAYLOAD_MAX (ASan).
 *
 * Input: byte 0 bit 0 "a descriptor came with it", then the datagram.
 */
#include <string.h>

#include "fuzz.h"
#include "ipc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	int has_fd = fuzz_u8(&in) & 1;
	uint8_t payload[IPC_PAYLOAD_MAX];
	enum ipc_type type = 0;
	uint32_t t, len;

	if (ipc_decode(in.p, in.len, has_fd, &type, payload) != NULL)
		return 0;
	FUZZ_ASSERT(in.len >= 8 && in.len <= 8 + IPC_PAYLOAD_MAX);
	memcpy(&t, in.p, 4);
	memcpy(&len, in.p + 4, 4);
	FUZZ_ASSERT(t == (uint32_t)type && type > 0 && type < IPC_TYPE_MAX);
	FUZZ_ASSERT(len == in.len - 8);
	FUZZ_ASSERT(memcmp(payload, in.p + 8, len) == 0);
	/* the other descriptor state is accepted only where the rule is
	 * "maybe" (a connect reply) */
	if (ipc_decode(in.p, in.len, !has_fd, &type, payload) == NULL)
		FUZZ_ASSERT(type == IPC_CONNECT_REP);
	return 0;
}
