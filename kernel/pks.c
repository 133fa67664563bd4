/* kernel/pks.c - PKS policy: availability, the key allocator, per-thread rights,
 * the report header and the protection-key #PF explainer.
 *
 * A change of the default (a key allocated, freed or given a new default access)
 * is published to the trap entry through trap_pkrs_default, to every saved thread
 * PKRS (kernel/thread.h) and, by a PKRS round (kernel/smp_ipi.h), to the live PKRS
 * of every other online CPU before the call returns. The allocator itself is
 * changed by one CPU at a time (key_lock).
 */
#include "kernel/pks.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printf.h"
#include "kernel/smp_ipi.h"
#include "kernel/spinlock.h"
#include "kernel/thread.h"
#include "arch/cpu.h"
#include "arch/trap.h"
#include "mm/pgtable.h"

static bool available __ro_after_init;
static bool enabled __ro_after_init;
static const char *reason __ro_after_init = "pks_setup() has not run";

/* Allocator state: a key is allocated while it has an owner. */
static struct key_slot {
	char name[PKS_KEY_NAME_MAX];
	const void *owner;
	bool guarded; /* pks_load() gives it at most its default access */
} keys[PKS_NR_KEYS] __pt_keyed;
/* Invariant: key 0 is 00 here, every free key AD|WD (checked by check_default). */
static uint32_t default_pkrs __pt_keyed_data = PKRS_ALL_BUT_KEY0;

static const uint32_t access_bits[] = {
	[PKS_ACCESS_RW] = 0,
	[PKS_ACCESS_RO] = 2,   /* WD */
	[PKS_ACCESS_NONE] = 3, /* AD | WD */
};

/* True for a key of 1..15 that pks_key_alloc() handed out and nobody freed. */
static bool key_allocated(int key)
{
	return key > 0 && key < PKS_NR_KEYS && keys[key].owner;
}

/* 0 when `owner` may change `key`, else -EINVAL (not allocated) or -EPERM. */
static int check_owner(const void *owner, int key)
{
	if (!key_allocated(key))
		return -EINVAL;
	return keys[key].owner == owner ? 0 : -EPERM;
}

/* AD|WD for every free key 1..15. */
static uint32_t free_keys_mask(void)
{
	uint32_t m = 0;

	for (int k = 1; k < PKS_NR_KEYS; k++)
		if (!key_allocated(k))
			m |= PKRS_KEY_MASK(k);
	return m;
}

uint32_t pks_forced_bits(void)
{
	uint32_t m = free_keys_mask();

	for (int k = 1; k < PKS_NR_KEYS; k++)
		if (key_allocated(k) && keys[k].guarded)
			m |= default_pkrs & PKRS_KEY_MASK(k);
	return m;
}

/* Panics unless the default keeps key 0 open and every free key closed. */
static void check_default(void)
{
	uint32_t free = free_keys_mask();

	/* Invariant: key 0 is never restricted; free keys are access-disabled. */
	ASSERT((default_pkrs & PKRS_KEY_MASK(0)) == 0 && (default_pkrs & free) == free);
}

/* Stores the default (and publishes it to the trap entry) inside a write window. */
static void set_default_pkrs(uint32_t v)
{
	uint32_t w = pt_window_open();

	default_pkrs = v;
	trap_pkrs_default = v;
	pt_window_close(w);
}

static struct spinlock key_lock = SPINLOCK_INIT("key_lock");

/* Gives key the bits `bits` in every saved thread PKRS and in the live PKRS of
 * every other online CPU (a round: done there when this returns). */
static void publish_key(int key, uint32_t bits)
{
	thread_pkrs_update(PKRS_KEY_MASK(key), bits); /* CPU by CPU, with the rounds */
}

/* Replaces key's 2 bits in pkrs with the bits of access a. */
static uint32_t with_access(uint32_t pkrs, int key, enum pks_access a)
{
	return (pkrs & ~PKRS_KEY_MASK(key)) | (access_bits[a] << (2 * key));
}

/* Registered with panic_set_pf_explainer(): prints pks_describe_fault() for a #PF
 * with the PK bit, using the PKRS saved by the trap entry. */
static void explain_pf(const struct trap_frame *f)
{
	char buf[768];

	if (!(f->error & PF_PK))
		return;
	pks_describe_fault(read_cr2(), f->rip, f->error, (uint32_t)f->pkrs, buf, sizeof(buf));
	kprintf("%s\n", buf);
}

void pks_setup(void)
{
	uint32_t w = pt_window_open();

	memset(keys, 0, sizeof(keys));
	default_pkrs = PKRS_ALL_BUT_KEY0;
	pt_window_close(w);
	available = false;
	if (!cpu.pks)
		reason = "CPU has no PKS (CPUID.(EAX=7,ECX=0):ECX[31]=0)";
	else if (cmdline_is("pks", "off"))
		reason = "PKS disabled by pks=off";
	else
		available = true;
	if (available)
		reason = NULL;
	panic_set_pf_explainer(explain_pf);
}

void pks_enable_cpu(void)
{
	if (!available)
		return;
	/* SDM Vol. 3A, 4.6.2: with CR4.PKS = 1 supervisor data accesses are checked
	 * against IA32_PKRS. Load the default before any keyed page can be touched. */
	pkrs_count_init_cpu((unsigned int)this_cpu()->cpu);
	pkrs_write(default_pkrs);
	write_cr4(read_cr4() | CR4_PKS);
	/* QEMU 7.2 keeps TLB entries filled without the key check across the CR4.PKS
	 * change; drop them all, global ones included. */
	flush_tlb_all_local();
	/* The globals are published once, by the boot CPU: an AP enabling PKS later
	 * must not write back a trap default the boot CPU may be changing. */
	if (!enabled) {
		trap_pkrs_default = default_pkrs;
		barrier();
		trap_pkrs_managed = 1;
		enabled = true;
	}
	/* Invariant: supervisor write protection stays on (WD needs CR0.WP = 1). */
	ASSERT(read_cr0() & CR0_WP);
}

bool pks_available(void)
{
	return available;
}

bool pks_enabled(void)
{
	return enabled;
}

const char *pks_unavailable_reason(void)
{
	return reason;
}

/* Allocates the lowest free key for owner, guarded or not. */
static int key_alloc(const char *name, const void *owner, bool guarded)
{
	uint64_t flags;
	uint32_t w;

	if (!available)
		return -ENOTSUP;
	if (!owner)
		return -EINVAL;
	flags = spin_lock_irqsave(&key_lock);
	for (int k = 1; k < PKS_NR_KEYS; k++) {
		if (key_allocated(k))
			continue;
		w = pt_window_open();
		strncpy_z(keys[k].name, name && *name ? name : "unnamed", PKS_KEY_NAME_MAX);
		keys[k].owner = owner;
		keys[k].guarded = guarded;
		pt_window_close(w);
		/* A fresh key stays AD|WD (as while free) until pks_key_set_default. */
		check_default();
		spin_unlock_irqrestore(&key_lock, flags);
		publish_key(k, PKRS_KEY_MASK(k));
		return k;
	}
	spin_unlock_irqrestore(&key_lock, flags);
	kprintf("# pks: no protection key left for '%s' (all %d in use)\n", name ? name : "unnamed",
		PKS_NR_KEYS - 1);
	return -ENOSPC;
}

int pks_key_alloc(const char *name, const void *owner)
{
	return key_alloc(name, owner, false);
}

int pks_key_alloc_guarded(const char *name, const void *owner)
{
	return key_alloc(name, owner, true);
}

int pks_key_free(const void *owner, int key)
{
	int rc = check_owner(owner, key);
	uint64_t flags;
	uint32_t w;

	if (rc)
		return rc;
	flags = spin_lock_irqsave(&key_lock);
	w = pt_window_open();
	memset(&keys[key], 0, sizeof(keys[key]));
	pt_window_close(w);
	set_default_pkrs(default_pkrs | PKRS_KEY_MASK(key));
	pkrs_write(pkrs_read() | PKRS_KEY_MASK(key));
	check_default();
	spin_unlock_irqrestore(&key_lock, flags);
	publish_key(key, PKRS_KEY_MASK(key));
	return 0;
}

const char *pks_key_name(int key)
{
	return key_allocated(key) ? keys[key].name : NULL;
}

int pks_keys_in_use(void)
{
	int n = 0;

	for (int k = 1; k < PKS_NR_KEYS; k++)
		n += key_allocated(k);
	return n;
}

int pks_key_set_default(const void *owner, int key, enum pks_access a)
{
	uint64_t flags;
	int rc;

	if (!available)
		return -ENOTSUP;
	if ((unsigned int)a > PKS_ACCESS_NONE)
		return -EINVAL;
	rc = check_owner(owner, key);
	if (rc)
		return rc;
	flags = spin_lock_irqsave(&key_lock);
	set_default_pkrs(with_access(default_pkrs, key, a));
	pkrs_write(with_access(pkrs_read(), key, a));
	check_default();
	spin_unlock_irqrestore(&key_lock, flags);
	publish_key(key, access_bits[a] << (2 * key));
	return 0;
}

int pks_set_access(const void *owner, int key, enum pks_access a)
{
	int rc;

	if (!available)
		return -ENOTSUP;
	if ((unsigned int)a > PKS_ACCESS_NONE)
		return -EINVAL;
	rc = check_owner(owner, key);
	if (rc)
		return rc;
	/* A trap between the read and the write restores this same value on exit. */
	pkrs_write(with_access(pkrs_read(), key, a));
	return 0;
}

enum pks_access pks_access_of(uint32_t pkrs, int key)
{
	uint32_t bits = (pkrs >> (2 * key)) & 3;

	if (bits & 1)
		return PKS_ACCESS_NONE; /* AD wins whatever WD says */
	return bits ? PKS_ACCESS_RO : PKS_ACCESS_RW;
}

uint32_t pks_read(void)
{
	return available ? pkrs_read() : 0;
}

uint32_t pks_default(void)
{
	return available ? default_pkrs : 0;
}

void pks_load(uint32_t pkrs)
{
	if (!available)
		return;
	pkrs = (pkrs | pks_forced_bits()) & ~PKRS_KEY_MASK(0);
	pkrs_write(pkrs);
}

/* The last key of the run of free keys starting at k that share k's bits in pkrs. */
static int free_run_end(uint32_t pkrs, int k)
{
	uint32_t bits = (pkrs >> (2 * k)) & 3;
	int end = k;

	while (end + 1 < PKS_NR_KEYS && !key_allocated(end + 1) &&
	       ((pkrs >> (2 * (end + 1))) & 3) == bits)
		end++;
	return end;
}

void pks_decode(uint32_t pkrs, char *buf, size_t size)
{
	static const char *const rights[] = { "", "AD", "WD", "AD+WD" };
	size_t len = 0;

	buf[0] = '\0';
	for (int k = 0; k < PKS_NR_KEYS; k++) {
		uint32_t bits = (pkrs >> (2 * k)) & 3;
		const char *name = pks_key_name(k);
		int end = k;

		if (!bits)
			continue;
		if (name)
			len += ksnprintf(buf + len, size > len ? size - len : 0, "%skey%d(%s)=%s",
					 len ? " " : "", k, name, rights[bits]);
		else if (k > 0 && (end = free_run_end(pkrs, k)) > k)
			len += ksnprintf(buf + len, size > len ? size - len : 0, "%skeys%d-%d=%s",
					 len ? " " : "", k, end, rights[bits]);
		else
			len += ksnprintf(buf + len, size > len ? size - len : 0, "%skey%d=%s",
					 len ? " " : "", k, rights[bits]);
		k = end;
	}
	if (!len)
		ksnprintf(buf, size, "all keys full access");
}

/* "1=page tables, 4=pks test" or "none" into buf. */
static void list_keys(char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int k = 1; k < PKS_NR_KEYS; k++)
		if (key_allocated(k))
			len += ksnprintf(buf + len, size > len ? size - len : 0, "%s%d=%s",
					 len ? ", " : "", k, keys[k].name);
	if (!len)
		ksnprintf(buf, size, "none");
}

void pks_print_header(void)
{
	char keys[512], decoded[512];

	if (!available) {
		kprintf("# pks: unavailable (%s): no key is enforced, PKS cases skip\n", reason);
		return;
	}
	list_keys(keys, sizeof(keys));
	pks_decode(default_pkrs, decoded, sizeof(decoded));
	kprintf("# pks: %s, CR4.PKS=%d, default PKRS=0x%08x, keys: %s\n",
		enabled ? "enabled" : "available (not enabled yet)", (read_cr4() & CR4_PKS) ? 1 : 0,
		default_pkrs, keys);
	kprintf("# pks: default PKRS decoded: %s\n", decoded);
}

/* Appends the "leaf ... key N" line for addr; returns the key or -1 (unmapped). */
static int describe_leaf(uint64_t addr, char *buf, size_t size, size_t *len)
{
	int level, key;
	uint64_t *e = pt_lookup(addr, &level);
	const char *name;

	if (!e) {
		*len += ksnprintf(buf + *len, size > *len ? size - *len : 0,
				  "\npks: no leaf maps 0x%016llx (walk stopped at the %s level)",
				  (unsigned long long)addr, pt_level_name(level));
		return -1;
	}
	key = pt_entry_pkey(*e);
	name = pks_key_name(key);
	*len += ksnprintf(buf + *len, size > *len ? size - *len : 0,
			  "\npks: leaf %s entry 0x%016llx (%llu KiB page%s): key %d (%s)",
			  pt_level_name(level), (unsigned long long)*e,
			  (unsigned long long)(pt_size(level) / KiB),
			  (*e & PTE_U) ? ", U=1: a user page is checked against PKRU" : "", key,
			  key == 0 ? "never restricted"
			  : name   ? name
				   : "unallocated");
	return key;
}

void pks_describe_fault(uint64_t addr, uint64_t rip, uint64_t error, uint32_t pkrs, char *buf,
			size_t size)
{
	static const char *const verdicts[] = {
		[PKS_ACCESS_RW] = "full access: not blocked by PKRS",
		[PKS_ACCESS_RO] = "WD: writes disabled",
		[PKS_ACCESS_NONE] = "AD: all data access disabled",
	};
	char decoded[512];
	size_t len;
	int key;

	len = ksnprintf(buf, size,
			"pks: protection-key violation: %s of 0x%016llx at RIP 0x%016llx",
			(error & PF_W) ? "write" : "read", (unsigned long long)addr,
			(unsigned long long)rip);
	key = describe_leaf(addr, buf, size, &len);
	pks_decode(pkrs, decoded, sizeof(decoded));
	len += ksnprintf(buf + len, size > len ? size - len : 0,
			 "\npks: PKRS at the fault 0x%08x: %s", pkrs, decoded);
	if (key > 0)
		ksnprintf(buf + len, size > len ? size - len : 0,
			  "\npks: key %d (%s) in that PKRS: %s", key,
			  pks_key_name(key) ? pks_key_name(key) : "unallocated",
			  verdicts[pks_access_of(pkrs, key)]);
}

_Static_assert(NR_CPUS <= PKRS_COUNT_SLOTS,
	       "every CPU with a record has its own PKRS counter slot");
