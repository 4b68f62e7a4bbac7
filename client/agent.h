/* agent.h: a polkit text agent for the duration of one call.
 *
 * Over SSH no desktop agent answers polkit's questions, so before a call
 * that may need a password the client starts pkttyagent(1) for its own
 * process and stops it after the call.  In a login session it is only a
 * fallback (a desktop's agent wins); outside one polkit would never ask a
 * fallback agent, so there it is the agent.
 */
#pragma once

#include <glib.h>

typedef struct _Agent Agent;

/* NULL when no agent is needed (root, no terminal) or none could start;
 * the call then goes ahead without one. */
Agent *agent_start (void);
void agent_stop (Agent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Agent, agent_stop)
