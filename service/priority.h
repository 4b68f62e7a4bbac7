/* priority.h: long jobs below the reads.
 *
 * An upload or a restore runs in a thread of its own at a lower CPU
 * priority (nice PRIORITY_JOB_NICE above the daemon's) and the lowest
 * best-effort I/O priority, and so does every thread it starts (threads
 * inherit both): while a job keeps the cores and the disk busy, the main
 * loop and the worker pool of List, Inspect and Preflight still get a core
 * at once.  Programs a job starts for the PBX (its stop and start
 * commands) are put back to the daemon's own priorities
 * (priority_reset_child()), so the PBX never runs below its normal
 * priority; others (the database's tools) keep the job's.
 */
#pragma once

#include <gio/gio.h>

/* Above the daemon's nice: a thread at +10 gets about a tenth of the CPU
 * time of one at +0 when both want it. */
#define PRIORITY_JOB_NICE 10

/* Main loop: runs func (task, source object, task data, cancellable) in a
 * new thread at the job's priorities, like g_task_run_in_thread() (which
 * is the fallback when no thread can be started). */
void priority_run_job_in_thread (GTask *task, GTaskThreadFunc func);

/* The calling thread at the daemon's own priorities (TRUE), or back at the
 * job's (FALSE): for the few steps of a restore while the PBX is stopped,
 * which must not wait behind anything else on the machine. */
void priority_critical (gboolean critical);

/* In a child between fork and exec (async-signal-safe): the priorities of
 * the daemon's main thread, as far as the child may raise them again (a
 * nice below the job's needs RLIMIT_NICE or CAP_SYS_NICE); the I/O
 * priority always. */
void priority_reset_child (void);
