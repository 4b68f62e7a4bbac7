/* manager.h: the de.starface.Backup object: the D-Bus face of the catalog,
 * uploads and restores.  Decodes arguments, runs the domain work (off the
 * main loop when it touches files) and encodes the reply. */
#pragma once

#include "authority.h"
#include "config.h"
#include "object.h"

typedef struct _Manager Manager;

/* authority: decides every call (borrowed, must outlive the manager) */
Manager *manager_new (Server *server, const Config *config, Authority *authority, GError **error);
void manager_free (Manager *manager);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Manager, manager_free)
