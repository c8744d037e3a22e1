/*
 * fs/cred.c - who the calling thread works for: the caller's uid, gid,
 * supplementary groups and the capabilities the filesystem's rules ask about
 * (FS_CAP_FSETID for the privilege bits, FS_CAP_RESOURCE for the root
 * reserve), as Linux's current_cred().
 *
 * Interface (fs/fs.h, "Credentials"): fs_set_cred, fs_cur_cred,
 * fs_cred_in_group.
 *
 * One copy per thread (thread-local storage), no locks, no other fs call,
 * so any file may use it. A thread that never called fs_set_cred(), or last
 * called it with NULL, is the filesystem itself: uid 0 with FS_CAP_ALL, so
 * writeback, reclaim, the journal and eviction finish what an allowed
 * caller started (a root-reserve block or a privilege bit is never decided
 * by whichever request thread happens to run them).
 */
#include "config.h"

#include <stddef.h>

#include "fs/fs.h"

static const struct fs_cred cred_fs = {.caps = FS_CAP_ALL};

static _Thread_local struct fs_cred cred_cur;
static _Thread_local bool cred_cur_set;

/**
 * fs_set_cred - set the calling thread's caller
 * @cred: the caller (copied; its groups array must stay valid until the
 *	next call), or NULL for the filesystem itself
 *
 * Context: any thread; affects only the calling thread.
 */
void fs_set_cred(const struct fs_cred *cred)
{
	cred_cur_set = cred != NULL;
	if (cred)
		cred_cur = *cred;
}

/**
 * fs_cur_cred - the calling thread's caller
 *
 * Context: any thread.
 * Return: the caller set by fs_set_cred(), or the filesystem itself (uid 0,
 * FS_CAP_ALL); never NULL, valid until the thread's next fs_set_cred().
 */
const struct fs_cred *fs_cur_cred(void)
{
	return cred_cur_set ? &cred_cur : &cred_fs;
}

/**
 * fs_cred_in_group - is a caller a member of a group?
 * @cred: the caller
 * @gid: the group
 *
 * Context: any thread.
 * Return: true when @gid is the caller's gid or one of its supplementary
 * groups (those known: none when @cred->groups is NULL).
 */
bool fs_cred_in_group(const struct fs_cred *cred, gid_t gid)
{
	if (cred->gid == gid)
		return true;
	for (int i = 0; cred->groups && i < cred->ngroups; i++)
		if (cred->groups[i] == gid)
			return true;
	return false;
}
