/*
 * fs/acl.c - POSIX ACL values: the kernel's blob (format/format.h,
 * struct folio_acl_header and struct folio_acl_entry), its validity rules,
 * the permission bits an access ACL implies, and the changes creating a
 * file and chmod make to it.
 *
 * Interface (fs/fs.h, "acl.c"): fs_acl_check, fs_acl_mode_from,
 * fs_acl_create_masq, fs_acl_chmod; the names FS_ACL_ACCESS and
 * FS_ACL_DEFAULT.
 *
 * Pure functions on memory: no I/O, no locks, no other fs call, so any file
 * may use them: xattr.c checks an ACL being set and takes the mode from it,
 * namei.c gives a new inode the default ACL of its directory, attr.c keeps
 * the access ACL in step with chmod. Reading and storing the ACL is theirs.
 *
 * Every function but fs_acl_check() expects a blob that passed it (or at
 * least folio_acl_valid(): a whole number of entries after the header).
 */
#include "config.h"

#include <errno.h>

#include "fs/fs.h"

static unsigned acl_count(size_t size)
{
	return (unsigned)((size - sizeof(struct folio_acl_header)) /
			  sizeof(struct folio_acl_entry));
}

static struct folio_acl_entry *acl_entries(const void *acl)
{
	return (struct folio_acl_entry *)((uintptr_t)acl + sizeof(struct folio_acl_header));
}

/**
 * fs_acl_check - check an ACL value as the kernel does (posix_acl_valid)
 * @value: the blob
 * @size: its length
 *
 * Besides folio_acl_valid() (version, length, known tags): USER_OBJ, USERs,
 * GROUP_OBJ, GROUPs, MASK, OTHER in that order, one of each base entry, a
 * MASK when there are named entries, permissions within rwx.
 *
 * Context: any thread.
 * Return: the number of entries (0: an empty ACL, which removes one), or
 * -EINVAL.
 */
int fs_acl_check(const void *value, size_t size)
{
	const struct folio_acl_entry *e = acl_entries(value);
	unsigned n, state = FOLIO_ACL_USER_OBJ;
	bool needs_mask = false;

	if (!folio_acl_valid(value, size))
		return -EINVAL;
	n = acl_count(size);
	for (unsigned i = 0; i < n; i++) {
		unsigned tag = le16_to_cpu(e[i].e_tag), want = tag;

		if (le16_to_cpu(e[i].e_perm) & ~7u)
			return -EINVAL;
		if (tag == FOLIO_ACL_GROUP_OBJ || tag == FOLIO_ACL_USER)
			want = FOLIO_ACL_USER;
		else if (tag == FOLIO_ACL_MASK || tag == FOLIO_ACL_GROUP)
			want = FOLIO_ACL_GROUP;
		if (tag == FOLIO_ACL_OTHER &&
		    (state == FOLIO_ACL_OTHER || (state == FOLIO_ACL_GROUP && !needs_mask))) {
			state = 0;
			continue;
		}
		if (state != want)
			return -EINVAL;
		needs_mask |= tag == FOLIO_ACL_USER || tag == FOLIO_ACL_GROUP;
		if (tag == FOLIO_ACL_USER_OBJ)
			state = FOLIO_ACL_USER;
		else if (tag == FOLIO_ACL_GROUP_OBJ)
			state = FOLIO_ACL_GROUP;
		else if (tag == FOLIO_ACL_MASK)
			state = FOLIO_ACL_OTHER;
	}
	return n == 0 || state == 0 ? (int)n : -EINVAL;
}

/**
 * fs_acl_mode_from - the permission bits an access ACL implies
 * @value: a valid ACL blob
 * @size: its length
 * @equiv: if not NULL, set to true when the ACL has only the three base
 *	entries (the mode says everything it says)
 *
 * Context: any thread.
 * Return: owner bits from USER_OBJ, group bits from MASK (GROUP_OBJ when no
 * MASK), other bits from OTHER.
 */
mode_t fs_acl_mode_from(const void *value, size_t size, bool *equiv)
{
	const struct folio_acl_entry *e = acl_entries(value);
	unsigned n = acl_count(size), u = 0, g = 0, o = 0, m = 0;
	bool has_mask = false;

	for (unsigned i = 0; i < n; i++) {
		unsigned perm = le16_to_cpu(e[i].e_perm) & 7;

		switch (le16_to_cpu(e[i].e_tag)) {
		case FOLIO_ACL_USER_OBJ:
			u = perm;
			break;
		case FOLIO_ACL_GROUP_OBJ:
			g = perm;
			break;
		case FOLIO_ACL_MASK:
			m = perm;
			has_mask = true;
			break;
		case FOLIO_ACL_OTHER:
			o = perm;
			break;
		}
	}
	if (equiv)
		*equiv = n == 3;
	return (mode_t)(u << 6 | (has_mask ? m : g) << 3 | o);
}

/* An entry's permissions become @bits, or (@masq) only those of @bits it
 * already has. */
static void acl_perm_set(struct folio_acl_entry *e, unsigned bits, bool masq)
{
	unsigned perm = masq ? le16_to_cpu(e->e_perm) & bits : bits;

	e->e_perm = cpu_to_le16((uint16_t)perm);
}

/* The owner, group class (MASK, or GROUP_OBJ without one) and other
 * entries take the bits of @mode: all of them, or (@masq) only those they
 * have. Named entries are left as they are. */
static void acl_base_bits(void *acl, size_t size, mode_t mode, bool masq)
{
	struct folio_acl_entry *e = acl_entries(acl), *group = NULL, *mask = NULL;
	unsigned n = acl_count(size);

	for (unsigned i = 0; i < n; i++) {
		switch (le16_to_cpu(e[i].e_tag)) {
		case FOLIO_ACL_USER_OBJ:
			acl_perm_set(&e[i], (mode >> 6) & 7, masq);
			break;
		case FOLIO_ACL_GROUP_OBJ:
			group = &e[i];
			break;
		case FOLIO_ACL_MASK:
			mask = &e[i];
			break;
		case FOLIO_ACL_OTHER:
			acl_perm_set(&e[i], mode & 7, masq);
			break;
		}
	}
	if (mask || group)
		acl_perm_set(mask ? mask : group, (mode >> 3) & 7, masq);
}

/**
 * fs_acl_create_masq - mask a new inode's copy of a default ACL by its mode
 * @acl: the copy (changed in place)
 * @size: its length
 * @mode: the mode the creator asked for
 *
 * As the kernel's posix_acl_create_masq: the owner, group class and other
 * entries keep only the permissions @mode grants.
 *
 * Context: any thread.
 * Return: the permission bits the masked ACL implies (the new mode's).
 */
mode_t fs_acl_create_masq(void *acl, size_t size, mode_t mode)
{
	acl_base_bits(acl, size, mode, true);
	return fs_acl_mode_from(acl, size, NULL);
}

/**
 * fs_acl_chmod - give an access ACL the permission bits of a new mode
 * @acl: the ACL (changed in place)
 * @size: its length
 * @mode: the new mode
 *
 * As the kernel's posix_acl_chmod: the owner, mask (or the owning group
 * when there is no mask) and other entries take @mode's bits.
 *
 * Context: any thread.
 */
void fs_acl_chmod(void *acl, size_t size, mode_t mode)
{
	acl_base_bits(acl, size, mode, false);
}
