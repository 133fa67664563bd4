/* kernel/pks.h - Protection Keys for Supervisor pages: enabling, keys, per-thread rights.
 *
 * A supervisor page's leaf entry carries a key (bits 62:59); IA32_PKRS gives every
 * key an access right (arch/pkrs.h). Warden's rules:
 *   - key 0 is never allocated and never restricted: an unkeyed page is unaffected;
 *   - keys 1..15 come from the allocator below, each with a name for the reports;
 *   - the default PKRS keeps every unallocated key access- and write-disabled and
 *     gives each allocated key the access chosen by pks_key_set_default();
 *   - every thread starts with the default, and every trap handler runs with it
 *     (arch/trap_entry.asm); pks_set_access() changes the current thread (on this
 *     CPU) only; a change of the default reaches every CPU and every thread;
 *   - a key's rights change only through its owner (below); the allocator's state
 *     and the default are page-table-keyed (arch/pkrs.h: __pt_keyed).
 * Without PKS (CPUID.(7,0):ECX[31] = 0) or with pks=off everything here reports
 * -ENOTSUP and changes nothing; callers then use key 0 (no protection).
 *
 * Boot order: pks_setup() early (no CR4/MSR access), pks_enable_cpu() once the
 * kernel runs on its own page tables, on every CPU that comes up.
 */
#ifndef KERNEL_PKS_H
#define KERNEL_PKS_H

#include "kernel/types.h"
#include "arch/pkrs.h"

enum pks_access {
	PKS_ACCESS_RW,	 /* AD=0 WD=0 */
	PKS_ACCESS_RO,	 /* AD=0 WD=1: reads only (writes too when CR0.WP=0) */
	PKS_ACCESS_NONE, /* AD=1 WD=1 */
};

#define PKS_KEY_NAME_MAX 24

/* Decides availability (cpu.pks, pks=off) and resets the key allocator. Touches
 * neither CR4 nor any MSR. Registers the #PF explainer. */
void pks_setup(void);
/* On this CPU: sets CR4.PKS, loads the default PKRS, flushes the whole TLB (QEMU 7.2
 * does not on a CR4.PKS change), and lets the trap entry manage PKRS. CR0.WP stays
 * set. Does nothing when PKS is unavailable. */
void pks_enable_cpu(void);

bool pks_available(void);
/* True once pks_enable_cpu() ran (CR4.PKS set, traps manage PKRS). */
bool pks_enabled(void);
/* Why PKS is unavailable ("CPU has no PKS (...)", "PKS disabled by pks=off"), or
 * NULL when it is available. */
const char *pks_unavailable_reason(void);

/* Every allocated key has an owner: the address of an object private to the code
 * that allocated it. Only the owner may change the key's rights, its default or free
 * it; any other caller gets -EPERM and nothing changes. */

/* Allocates the lowest free key of 1..15 under `name` (copied, truncated to
 * PKS_KEY_NAME_MAX - 1) for `owner` (not NULL); its default access starts as
 * PKS_ACCESS_NONE. Returns the key, -ENOSPC (reported, nothing changed), -EINVAL
 * (no owner) or -ENOTSUP when PKS is unavailable. */
int pks_key_alloc(const char *name, const void *owner);
/* The same, and the key is guarded: pks_load() never gives it more access than its
 * default, so only its owner's own PKRS writes open it (mm: the page-table key). */
int pks_key_alloc_guarded(const char *name, const void *owner);
/* Frees an allocated key; it becomes access-disabled again in the default and in the
 * current PKRS. No thread may still use it. 0, -EINVAL (key 0, out of range, not
 * allocated) or -EPERM (not the owner). */
int pks_key_free(const void *owner, int key);
/* The name an allocated key was given, or NULL (key 0, free keys, out of range). */
const char *pks_key_name(int key);
/* Number of allocated keys. */
int pks_keys_in_use(void);

/* Sets the access an allocated key has in the default PKRS (threads, trap handlers),
 * in every saved thread PKRS and in the live PKRS of every online CPU (a round,
 * kernel/smp_ipi.h: done everywhere when this returns). 0, -EINVAL (key 0, out of range, not
 * allocated), -EPERM (not the owner) or -ENOTSUP. */
int pks_key_set_default(const void *owner, int key, enum pks_access a);
/* Sets the access of an allocated key for the current thread only: effective for the
 * next instruction, no TLB flush. 0, -EINVAL (key 0, out of range, not allocated),
 * -EPERM (not the owner) or -ENOTSUP (nothing changed). */
int pks_set_access(const void *owner, int key, enum pks_access a);
/* The access key has in the PKRS value `pkrs`. */
enum pks_access pks_access_of(uint32_t pkrs, int key);

/* The current PKRS (0 when PKS is unavailable). */
uint32_t pks_read(void);
/* The default PKRS: what threads start with and trap handlers run with (0 when
 * PKS is unavailable). */
uint32_t pks_default(void);
/* Loads a thread's saved PKRS on a context switch, with every free key forced
 * access-disabled, key 0 forced open and every guarded key given at most its default
 * access. Does nothing when PKS is unavailable. */
void pks_load(uint32_t pkrs);
/* The PKRS bits pks_load() forces on: free keys AD|WD, guarded keys their default. */
uint32_t pks_forced_bits(void);

/* Describes every key of `pkrs` that lacks full access, e.g.
 * "key1(page tables)=WD key2(pks test)=AD+WD keys3-15=AD+WD" (runs of free keys
 * with the same bits are merged), or "all keys full access". */
void pks_decode(uint32_t pkrs, char *buf, size_t size);
/* The "# pks: ..." lines of the report header: state, default PKRS, keys. */
void pks_print_header(void);

/* Explains a protection-key #PF in a few '\n'-separated lines: address, RIP, the
 * faulting leaf and its key (from a table walk), the PKRS in force decoded per key,
 * and which right of which allocated key blocked the access. */
void pks_describe_fault(uint64_t addr, uint64_t rip, uint64_t error, uint32_t pkrs, char *buf,
			size_t size);

#endif
