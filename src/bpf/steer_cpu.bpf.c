// SPDX-License-Identifier: MIT
/*
 * The reuseport steering program (listener steering: cpu, docs/architecture.md): picks, for a
 * new connection, the listening socket of the worker pinned to the CPU whose softirq received
 * its SYN, so the connection is accepted and served where its packets already are. Built with
 * clang -target bpf and embedded in the sluice binary; src/proxy/steer.c loads it, fills the
 * CPU -> socket map and attaches it to one listener's SO_REUSEPORT group. Both programs are
 * of the select-or-migrate kind: when a listening socket of the group closes with clients in
 * its queue (a socket an upgrade's new process has no worker for), the kernel asks the program
 * where they go instead of resetting them.
 */
/* the kernel's types before libbpf's helpers, which use them */
// clang-format off
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
// clang-format on

/* CPU number -> that CPU's worker's listening socket; sized to the possible CPUs at load
 * (sl_steer_hash: one entry, the socket a closing one's clients move to). No BTF types: the
 * kernel takes a socket array's values only as plain sizes. */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 1);
} sl_steer_socks SEC(".maps");

/* sl_steer_cpu: the key in sl_steer_socks of the socket a closing socket's clients move to
 * when the CPU that closes it has none, the first worker's CPU. A socket array holds a socket
 * at one key only (the kernel refuses a second with EBUSY), so this names a key, not a socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 1);
} sl_steer_fallback SEC(".maps");

/*
 * For a group that steers by CPU. A new connection goes to the socket of the CPU that runs
 * the program (its SYN's softirq), or, from a CPU without a worker (not in sluice's CPU set),
 * where the kernel's hash sends it. A closing socket's queued client (migrating_sk) goes to
 * the socket of the CPU that runs the program, else to the first worker's: not by hash, which could
 * pick another socket of the group that is closing at that moment (an upgrade's old process
 * closes the sockets the new one has no worker for on several threads at once), and one that
 * stops listening between the kernel's choice and the move resets the client. Every socket in
 * the map is one of this process's, which stays open while the previous process's close: the
 * new process fills a map of its own (sl__steer_attach()).
 */
SEC("sk_reuseport/migrate")
int
sl_steer_cpu(struct sk_reuseport_md *md)
{
	__u32 cpu = bpf_get_smp_processor_id(), zero = 0;
	__u32 *fallback;

	if (bpf_sk_select_reuseport(md, &sl_steer_socks, &cpu, 0) == 0 || md->migrating_sk == NULL)
		return SK_PASS;
	/* none there (it closed too): the kernel's hash picks */
	fallback = bpf_map_lookup_elem(&sl_steer_fallback, &zero);
	if (fallback != NULL)
		bpf_sk_select_reuseport(md, &sl_steer_socks, fallback, 0);
	return SK_PASS;
}

/*
 * For a group that steers by hash (the default): no selection, so a new connection goes where
 * the kernel's hash sends it, as with no program; attached only for what the kind brings, that
 * a closing socket's queued clients move to another socket of the group (sl__steer_migrate()).
 * Those go to the socket at key 0, one that stays open: by hash they could land on another
 * socket that is closing too, and one that stops listening between the kernel's choice and
 * the move resets the client.
 */
SEC("sk_reuseport/migrate")
int
sl_steer_hash(struct sk_reuseport_md *md)
{
	__u32 key = 0;

	/* none there (it closed): the kernel's hash picks */
	if (md->migrating_sk != NULL)
		bpf_sk_select_reuseport(md, &sl_steer_socks, &key, 0);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
