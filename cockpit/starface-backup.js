/*
 * starface-backup.js: the STARFACE backup page for Cockpit.
 *
 * It follows the restore flow of the STARFACE admin UI: all backups, newest
 * first, the newest restorable one preselected; uploads of .sar files; the
 * choice of data to take over; the last look at the logged-in users and
 * active calls that the restore ends; the restore with its progress; the
 * undo. It talks to de.starface.Backup on the system bus through
 * cockpit.dbus, and uploads through the command-line client (the bridge
 * cannot pass file descriptors), writing the file to its standard input.
 *
 * Every text a person reads goes through cockpit.gettext (_()); errors and
 * checks are translated from their D-Bus error names and check codes, the
 * service's English sentence is shown beneath as the detail.
 */

"use strict";

(function () {
    const _ = cockpit.gettext;
    const N_ = text => text; /* marks a message for the catalog; _() it where shown */

    const SERVICE = "de.starface.Backup";
    const PATH = "/de/starface/Backup";
    const IFACE = "de.starface.Backup";
    const JOB_IFACE = "de.starface.Backup.Job";
    const PROPERTIES = "org.freedesktop.DBus.Properties";
    const OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager";
    const ERR = "de.starface.Backup.Error.";
    const DBUS_ERR = "org.freedesktop.DBus.Error.";
    const CLIENT = "starface-backup";
    const PRE_RESTORE = "pre-restore";

    /* the service's name rules (docs/dbus-api.md, "Backup names") */
    const NAME_MAX = 128;
    const QUOTE_MAX = 80;
    const RESERVED_PREFIX = "pre-restore_";

    /* upload: blocks written to the client's stdin, and how many bytes may be
     * on their way before the bridge has acknowledged them (flow control) */
    const UPLOAD_BLOCK = 64 * 1024;
    const UPLOAD_WINDOW = 1024 * 1024;

    /* the restore this page started, found again after a reload */
    const JOB_KEY = "starface-backup-job";

    const client = cockpit.dbus(SERVICE, { bus: "system", superuser: "try" });
    const language = (cockpit.language || "en").replace("_", "-");

    const state = {
        backups: [], /* [name, {key: value}] from List, newest first */
        installedVersion: null,
        selected: null, /* the backup chosen in the list */
        inspected: null, /* Inspect's answer for the chosen backup */
        preflight: null, /* {name, components, ignoreIp, report} */
        job: null, /* the restore job shown: {path, props, subscriptions} */
        upload: null, /* the upload under way */
        listError: null,
    };

    /* --- small helpers ----------------------------------------------------- */

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, attributes, ...children) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(attributes || {})) {
            if (value === undefined || value === null || value === false)
                continue;
            if (key === "class")
                node.className = value;
            else if (key === "text")
                node.textContent = value;
            else if (key.startsWith("on"))
                node.addEventListener(key.substring(2), value);
            else
                node.setAttribute(key, value === true ? "" : value);
        }
        for (const child of children.flat()) {
            if (child === undefined || child === null || child === false)
                continue;
            node.append(typeof child === "string" ? document.createTextNode(child) : child);
        }
        return node;
    }

    function fmt(template, ...args) {
        return cockpit.format(template, args.map(String));
    }

    /* a{sv} from cockpit.dbus ({key: {t, v}}) to plain values */
    function unwrap(dict) {
        const result = {};
        for (const [key, variant] of Object.entries(dict || {}))
            result[key] = variant && typeof variant === "object" && "v" in variant ? variant.v : variant;
        return result;
    }

    function formatSize(bytes) {
        const units = [N_("$0 B"), N_("$0 KiB"), N_("$0 MiB"), N_("$0 GiB"), N_("$0 TiB")];
        let value = Number(bytes) || 0;
        let unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        const digits = unit === 0 ? 0 : (value < 10 ? 1 : 0);
        const number = new Intl.NumberFormat(language, { maximumFractionDigits: digits }).format(value);
        return fmt(_(units[unit]), number);
    }

    function formatTime(seconds) {
        if (!seconds)
            return "";
        return new Date(Number(seconds) * 1000).toLocaleString(language, {
            year: "numeric", month: "2-digit", day: "2-digit",
            hour: "2-digit", minute: "2-digit", second: "2-digit",
        });
    }

    function formatDuration(ms) {
        ms = Number(ms);
        const number = (value, digits) =>
            new Intl.NumberFormat(language, { maximumFractionDigits: digits }).format(value);
        if (ms < 1000)
            return fmt(_("$0 ms"), number(ms, 0));
        if (ms < 60000)
            return fmt(_("$0 s"), number(ms / 1000, 1));
        return fmt(_("$0 min $1 s"), Math.floor(ms / 60000), number((ms % 60000) / 1000, 0));
    }

    function formatCount(n) {
        return new Intl.NumberFormat(language).format(Number(n));
    }

    /* --- errors: a sentence from the D-Bus error name ---------------------- */

    const ERROR_SENTENCES = {
        [ERR + "InvalidName"]: N_("The backup name is not allowed."),
        [ERR + "NotFound"]: N_("The backup does not exist (any more)."),
        [ERR + "AlreadyExists"]: N_("A backup of this name already exists. Choose another name, or replace it."),
        [ERR + "InvalidBackup"]: N_("The file is not a valid STARFACE backup, or it is damaged."),
        [ERR + "VersionTooNew"]: N_("The backup was made by a newer STARFACE version than the installed one. Only backups of an equal or older version can be restored."),
        [ERR + "UnknownComponent"]: N_("The chosen data is not in the backup, or this machine does not have it."),
        [ERR + "Busy"]: N_("Another restore or upload is running, or an earlier restore is not finished yet. Wait until it has finished and try again."),
        [ERR + "InvalidToken"]: N_("The check before the restore has expired or no longer matches the backup. Check again, then restore."),
        [ERR + "NoSpace"]: N_("There is not enough disk space."),
        [ERR + "TooLarge"]: N_("The backup exceeds a limit this machine sets for backups."),
        [ERR + "Canceled"]: N_("It was canceled; nothing was changed."),
        [ERR + "Failed"]: N_("It failed."),
        [DBUS_ERR + "InvalidArgs"]: N_("The backup service did not accept the request."),
        [DBUS_ERR + "AccessDenied"]: N_("The system refused access to the backup service."),
        [DBUS_ERR + "ServiceUnknown"]: N_("The backup service is not installed or cannot be started."),
        [DBUS_ERR + "NameHasNoOwner"]: N_("The backup service is not installed or cannot be started."),
        [DBUS_ERR + "UnknownObject"]: N_("The job no longer exists."),
        [DBUS_ERR + "UnknownMethod"]: N_("The backup service on this machine is too old for this page."),
        [DBUS_ERR + "UnknownInterface"]: N_("The backup service on this machine is too old for this page."),
        [DBUS_ERR + "NoReply"]: N_("The backup service did not answer in time."),
        [DBUS_ERR + "Timeout"]: N_("The backup service did not answer in time."),
        [DBUS_ERR + "TimedOut"]: N_("The backup service did not answer in time."),
        [DBUS_ERR + "Disconnected"]: N_("The connection to the backup service was lost."),
    };

    /* Who may not do what: by operation, so the message says what is refused. */
    const NOT_ALLOWED = {
        read: N_("You are not allowed to see the backups on this machine."),
        upload: N_("You are not allowed to upload backups to this machine."),
        restore: N_("You are not allowed to restore backups on this machine."),
        cancel: N_("You are not allowed to cancel this job."),
    };
    const NOT_ALLOWED_HINT = N_("Ask an administrator for permission, or turn on administrative access in Cockpit if your account may administer this machine.");
    const PASSWORD_NEEDED = N_("This needs an administrator's password, and this page cannot ask for it.");

    const FAILED_SENTENCES = {
        read: N_("The backups could not be read."),
        inspect: N_("The backup could not be read."),
        preflight: N_("The restore could not be checked."),
        restore: N_("The restore failed."),
        upload: N_("The upload failed."),
        cancel: N_("The job could not be canceled."),
        history: N_("The history could not be read."),
    };

    /* {title, detail} for an error of cockpit.dbus or of a job */
    function describeError(name, message, operation) {
        const permission = operation === "inspect" || operation === "preflight" ||
                           operation === "history" ? "read" : operation;
        if (name === ERR + "NotAuthorized" || name === DBUS_ERR + "AuthFailed")
            return { title: _(NOT_ALLOWED[permission] || NOT_ALLOWED.read), hint: _(NOT_ALLOWED_HINT), detail: message, name };
        if (name === DBUS_ERR + "InteractiveAuthorizationRequired")
            return { title: _(NOT_ALLOWED[permission] || NOT_ALLOWED.read), hint: _(PASSWORD_NEEDED) + " " + _(NOT_ALLOWED_HINT), detail: message, name };
        if (name === ERR + "Failed" && FAILED_SENTENCES[operation])
            return { title: _(FAILED_SENTENCES[operation]), detail: message, name };
        if (name === ERR + "Canceled" && operation === "restore")
            return { title: _("The restore was canceled; nothing was changed."), detail: null, name };
        if (name === ERR + "Canceled" && operation === "upload")
            return { title: _("The upload was canceled; nothing was stored."), detail: null, name };
        if (ERROR_SENTENCES[name])
            return { title: _(ERROR_SENTENCES[name]), detail: message, name };
        return { title: _(FAILED_SENTENCES[operation] || ERROR_SENTENCES[ERR + "Failed"]), detail: message || name, name };
    }

    function describeException(ex, operation) {
        if (ex && ex.name && String(ex.name).indexOf(".") > 0)
            return describeError(ex.name, ex.message, operation);
        if (ex && ex.problem === "access-denied")
            return describeError(ERR + "NotAuthorized", cockpit.message(ex), operation);
        if (ex && (ex.problem === "not-found" || ex.problem === "not-installed"))
            return { title: _(ERROR_SENTENCES[DBUS_ERR + "ServiceUnknown"]), detail: null };
        if (ex && ex.problem) {
            /* Cockpit's own problem codes: cockpit.message() has words for most */
            const text = cockpit.message(ex);
            if (text && text !== ex.problem)
                return { title: text, detail: null };
            return { title: _(FAILED_SENTENCES[operation] || ERROR_SENTENCES[ERR + "Failed"]), detail: ex.problem };
        }
        return { title: _(FAILED_SENTENCES[operation] || ERROR_SENTENCES[ERR + "Failed"]), detail: String(ex && ex.message ? ex.message : ex) };
    }

    function alertBox(kind, title, detail, extra) {
        const box = el("div", { class: "sf-alert sf-alert-" + kind, role: kind === "danger" ? "alert" : "status" },
                       el("p", { class: "sf-alert-title", text: title }));
        if (detail)
            box.append(el("p", { class: "sf-alert-detail", text: detail }));
        if (extra)
            box.append(extra);
        return box;
    }

    function errorBox(described) {
        const box = alertBox("danger", described.title, described.hint || null);
        if (described.name)
            box.dataset.error = described.name;
        if (described.detail && described.detail !== described.title) {
            box.append(el("p", { class: "sf-alert-detail sf-service-message" },
                          _("Message of the service:") + " ", el("span", { class: "sf-detail-text", text: described.detail })));
        }
        return box;
    }

    function showIn(containerId, node) {
        const container = $(containerId);
        container.replaceChildren();
        if (node)
            container.append(node);
    }

    /* --- backup names: the service's rule, its message text ---------------- */

    function hex(code, width) {
        return code.toString(16).toUpperCase().padStart(width, "0");
    }

    function isControl(code) {
        return code < 0x20 || (code >= 0x7f && code <= 0x9f);
    }

    /* GLib's g_unichar_isprint: not a control, format, unassigned or surrogate */
    function isPrintable(char) {
        return !/[\p{Cc}\p{Cf}\p{Cn}\p{Cs}]/u.test(char);
    }

    /* the service's quoting of a name in messages (names.c, sar_quote) */
    function quote(text) {
        let out = "\"";
        let n = 0;
        for (const char of text) {
            if (n++ === QUOTE_MAX) {
                out += "...";
                break;
            }
            const code = char.codePointAt(0);
            if (char === "\"")
                out += "\\\"";
            else if (char === "\\")
                out += "\\\\";
            else if (char === "\n")
                out += "\\n";
            else if (char === "\t")
                out += "\\t";
            else if (char === "\r")
                out += "\\r";
            else if (isControl(code) || !isPrintable(char))
                out += code <= 0xff ? "\\x" + hex(code, 2) : "\\u" + hex(code, 4);
            else
                out += char;
        }
        return out + "\"";
    }

    /* null when the service would take the name for an upload; else its
     * message, in the page's language (English: word for word the service's) */
    function checkUploadName(name) {
        if (name === "")
            return _("the backup name is empty: give a file name ending in \".sar\"");
        let position = 1;
        for (const char of name) {
            const code = char.codePointAt(0);
            if (code < 0x80 && /[A-Za-z0-9._-]/.test(char)) {
                position++;
                continue;
            }
            let what;
            if (isControl(code))
                what = fmt(_("invalid control character U+$0"), hex(code, 4));
            else if (!isPrintable(char))
                what = fmt(_("invalid character U+$0"), hex(code, 4));
            else
                what = fmt(_("invalid character '$0' (U+$1)"), char, hex(code, 4));
            return fmt(_("$0 at position $1 of $2: only ASCII letters, digits, '.', '-' and '_' are allowed"),
                       what, position, quote(name));
        }
        if (name[0] === ".")
            return fmt(_("invalid backup name $0: it starts with '.'; hidden names are not allowed"), quote(name));
        if (name.length > NAME_MAX)
            return fmt(_("invalid backup name $0: it is $1 characters long; at most $2 are allowed"),
                       quote(name), name.length, NAME_MAX);
        if (name.length < 5 || !name.endsWith(".sar"))
            return fmt(_("invalid backup name $0: it does not end in \".sar\""), quote(name));
        if (name.toLowerCase().startsWith(RESERVED_PREFIX))
            return _("Names starting with \"pre-restore_\" are reserved for the backups the service makes of the state before a restore; choose another name");
        return null;
    }

    /* --- components, stages, checks ---------------------------------------- */

    const COMPONENTS = {
        core: {
            label: N_("Core data"),
            help: N_("Users, groups, phones, number assignments, chat history, configuration"),
        },
        "cdr-voicemail": {
            label: N_("CDR and voicemails"),
            help: N_("Call lists, voicemail messages"),
        },
        announcements: {
            label: N_("Voicemail announcements"),
            help: N_("Announcement texts"),
        },
    };

    /* The label Inspect gives, translated when it is the documented one. */
    function componentLabel(id, label) {
        const known = COMPONENTS[id];
        if (known && (!label || label === known.label))
            return _(known.label);
        return label || id;
    }

    function componentLabelById(id) {
        const components = state.inspected ? state.inspected.components || [] : [];
        const found = components.find(c => c[0] === id);
        return componentLabel(id, found ? unwrap(found[1]).label : null);
    }

    const STAGES = {
        starting: N_("Starting"),
        extracting: N_("Unpacking and checking the backup beside the live data"),
        "stopping-pbx": N_("Stopping the PBX: logins and calls end now"),
        activating: N_("Switching to the restored data"),
        "starting-pbx": N_("Starting the PBX"),
        "saving-previous": N_("Saving the previous state (the undo)"),
        cleanup: N_("Cleaning up"),
        receiving: N_("Receiving the backup"),
        verifying: N_("Checking the backup"),
        publishing: N_("Storing the backup"),
        done: N_("Done"),
        failed: N_("Failed"),
        canceled: N_("Canceled"),
    };

    function stageText(stage) {
        return STAGES[stage] ? _(STAGES[stage]) : stage;
    }

    function limitValue(limit, value) {
        return limit === "MaxEntries" ? formatCount(value) : formatSize(value);
    }

    /* A check of Preflight as a sentence; null for a code this page does not
     * know (the caller then shows the service's English sentence). */
    function checkText(code, args) {
        switch (code) {
        case "version-newer":
            return fmt(_("The backup was made by STARFACE $0, which is newer than the installed $1. Only backups of an equal or older version can be restored."),
                       args["backup-version"], args["installed-version"]);
        case "version-unknown":
            return fmt(_("The installed STARFACE version cannot be read ($0)."), args.reason);
        case "no-space":
            return fmt(_("Not enough disk space: the restore needs $0 (the restored data beside the live data, and the backup of the current state), but $1 are free."),
                       formatSize(args.required), formatSize(args.available));
        case "no-space-backup-directory":
            return fmt(_("The backup directory needs up to $0 for the backup of the current state, but $1 are free."),
                       formatSize(args.required), formatSize(args.available));
        case "live-data-unsavable":
            return fmt(_("The current data of \"$0\" cannot be saved as the backup that undoes the restore: $1"),
                       componentLabelById(args.component), args.reason);
        case "undo-too-large":
            if (args.component)
                return fmt(_("The backup of the current data of \"$0\" that undoes the restore would exceed the limit $1 ($2, at most $3)."),
                           componentLabelById(args.component), args.limit,
                           limitValue(args.limit, args.value), limitValue(args.limit, args.maximum));
            return fmt(_("The backup of the current data that undoes the restore would exceed the limit $0 ($1, at most $2)."),
                       args.limit, limitValue(args.limit, args.value), limitValue(args.limit, args.maximum));
        case "restore-unresolved":
            return fmt(_("An earlier restore of $0 is not finished yet; the service keeps trying to complete it ($1)."),
                       args.backup, args.reason);
        case "other-host":
            if (args["ip-address"])
                return fmt(_("The backup was taken on another machine ($0, IP address $1), not on this one ($2). Tick \"Keep this machine's IP settings\" to keep this machine's network settings."),
                           args.hostname, args["ip-address"], args["this-host"]);
            return fmt(_("The backup was taken on another machine ($0), not on this one ($1). Tick \"Keep this machine's IP settings\" to keep this machine's network settings."),
                       args.hostname, args["this-host"]);
        case "component-not-configured":
            return fmt(_("The backup holds \"$0\", which this machine does not have; it will not be restored."),
                       componentLabelById(args.component));
        case "sessions-unknown":
            return fmt(_("The number of logged-in users and active calls could not be determined ($0). The restore ends all of them."),
                       args.reason);
        case "database-unreachable":
            return fmt(_("The database server cannot be reached to restore the database $0 of \"$1\" ($2)."),
                       args.database, componentLabelById(args.component), args.reason);
        case "database-missing":
            return fmt(_("The database $0 of \"$1\" does not exist on the database server."),
                       args.database, componentLabelById(args.component));
        case "database-owner-superuser":
            return fmt(_("The database $0 of \"$1\" is owned by $2, a superuser role; a dump from a backup is never loaded as a superuser."),
                       args.database, componentLabelById(args.component), args.owner);
        case "database-previous-exists":
            return fmt(_("An earlier restore of the database $0 of \"$1\" left the database $2 behind, which may hold the only copy of earlier data. Save or drop it first."),
                       args.database, componentLabelById(args.component), args.name);
        case "database-no-space":
            return fmt(_("The database server needs about $0 to load the database $1 of \"$2\" beside the live database, but $3 are free."),
                       formatSize(args.required), args.database, componentLabelById(args.component),
                       formatSize(args.available));
        case "database-dump-unreadable":
            return fmt(_("The database dump in the backup cannot be read or checked ($0)."), args.reason);
        case "database-dump-superuser":
            return fmt(_("The database dump of \"$0\" needs a superuser, and a dump from a backup is never loaded as one: $1"),
                       componentLabelById(args.component), args.detail);
        case "database-role-missing":
            return fmt(_("The database dump of \"$0\" names the role $1, which the database server does not have."),
                       componentLabelById(args.component), args.detail);
        case "database-extension-missing":
            return fmt(_("The database dump of \"$0\" needs the extension $1, which is not installed in the live database."),
                       componentLabelById(args.component), args.detail);
        case "database-sessions":
            return fmt(cockpit.ngettext("$0 session is open on the database $1 of \"$2\". The restore ends it while the PBX is stopped.",
                                        "$0 sessions are open on the database $1 of \"$2\". The restore ends them while the PBX is stopped.",
                                        Number(args.sessions)),
                       formatCount(args.sessions), args.database, componentLabelById(args.component));
        case "database-not-in-backup":
            return fmt(_("The backup holds no database for \"$0\": only its files are restored, the database $1 stays as it is."),
                       componentLabelById(args.component), args.database);
        case "database-not-configured":
            return fmt(_("The backup holds the database $0 for \"$1\", but this machine has no database configured for it: only its files are restored."),
                       args.database, componentLabelById(args.component));
        default:
            return null;
        }
    }

    /* Why List marks a backup: a sentence in the page's language; the
     * service's English "problem" is the detail. */
    function problemTitle(info) {
        if (!info.valid)
            return _("This file is not a usable backup.");
        if (info.problem && Number(info.created) > Date.now() / 1000 + 24 * 3600)
            return _("It was created in the future (a clock set wrong where it was made), so it is not preselected.");
        return info.problem ? _("The backup service notes a problem with it.") : null;
    }

    /* --- the list of backups ----------------------------------------------- */

    function restorable(info) {
        return info.valid && info.compatible;
    }

    function unusableReason(info) {
        if (!info.valid)
            return problemTitle(info);
        if (!info.compatible) {
            if (!state.installedVersion)
                return _("The installed STARFACE version is unknown, so no backup can be restored.");
            return fmt(_("Made by STARFACE $0, which is newer than the installed $1."),
                       info.version, state.installedVersion);
        }
        return null;
    }

    function loadBackups() {
        const list = client.call(PATH, IFACE, "List", [], { type: "" });
        const version = client.call(PATH, PROPERTIES, "Get", [IFACE, "InstalledVersion"], { type: "ss" })
                .then(reply => reply[0].v, () => null);
        return Promise.all([list, version]).then(([reply, installed]) => {
            state.installedVersion = installed;
            state.backups = reply[0].map(([name, dict]) => [name, unwrap(dict)]);
            state.listError = null;
            const names = state.backups.filter(([, info]) => restorable(info)).map(([name]) => name);
            if (!names.includes(state.selected)) {
                const latest = state.backups.find(([, info]) => info.latest);
                state.selected = latest ? latest[0] : null;
                closeFlow();
            }
            renderBackups();
        }).catch(ex => {
            state.backups = [];
            state.listError = describeException(ex, "read");
            renderBackups();
        });
    }

    function renderBackups() {
        const body = $("backups-body");
        body.replaceChildren();
        $("installed-version").textContent = state.installedVersion
            ? fmt(_("Installed STARFACE version: $0"), state.installedVersion)
            : (state.installedVersion === "" ? _("The installed STARFACE version is unknown.") : "");
        showIn("backups-alert", state.listError ? errorBox(state.listError) : null);
        $("backups-table").hidden = !!state.listError || state.backups.length === 0;
        $("backups-empty").hidden = !!state.listError || state.backups.length > 0;

        for (const [name, info] of state.backups) {
            const usable = restorable(info);
            const reason = unusableReason(info);
            const radio = el("input", {
                type: "radio", name: "backup", value: name, disabled: !usable,
                checked: name === state.selected, "aria-label": name,
            });
            radio.addEventListener("change", () => select(name));

            const nameCell = el("td", { class: "sf-name" }, name);
            if (info.latest)
                nameCell.append(el("span", { class: "sf-label sf-label-blue sf-latest", text: _("Newest") }));
            if (info.process === PRE_RESTORE)
                nameCell.append(el("span", {
                    class: "sf-label sf-label-purple sf-undo-point",
                    title: _("The state before a restore: restore it to undo that restore."),
                    text: _("Undo point"),
                }));

            let status;
            if (reason)
                status = el("td", { class: "sf-status sf-status-problem" }, reason);
            else if (info.problem)
                status = el("td", { class: "sf-status sf-status-warning" }, problemTitle(info));
            else
                status = el("td", { class: "sf-status" }, _("Can be restored"));
            status.dataset.problem = info["problem-code"] || (!info.valid ? "invalid" : !info.compatible ? "incompatible" : info.problem ? "problem" : "");
            if (info.problem)
                status.append(el("div", { class: "sf-problem-detail sf-help", text: info.problem }));

            const row = el("tr", {
                class: (usable ? "sf-selectable" : "sf-unusable") + (name === state.selected ? " sf-selected" : ""),
                "data-name": name,
                "data-restorable": usable ? "true" : "false",
            },
            el("td", { class: "sf-col-select" }, radio),
            nameCell,
            el("td", {}, info.process === PRE_RESTORE ? _("Before a restore") : (info.process || "")),
            el("td", { class: "sf-time" }, formatTime(info.created)),
            el("td", {}, info.version || ""),
            el("td", { class: "sf-numeric" }, formatSize(info.size)),
            status);
            if (usable)
                row.addEventListener("click", event => {
                    if (event.target !== radio)
                        select(name);
                });
            body.append(row);
        }
        $("choose-button").disabled = !state.selected;
    }

    function select(name) {
        if (state.selected === name)
            return;
        state.selected = name;
        closeFlow();
        renderBackups();
    }

    /* --- step 2: Inspect ------------------------------------------------------ */

    function closeFlow() {
        state.inspected = null;
        state.preflight = null;
        $("inspect-card").hidden = true;
        $("preflight-card").hidden = true;
    }

    function closePreflight() {
        state.preflight = null;
        $("preflight-card").hidden = true;
    }

    function inspect(name) {
        closeFlow();
        $("choose-button").disabled = true;
        return client.call(PATH, IFACE, "Inspect", [name], { type: "s" })
                .then(reply => {
                    state.inspected = unwrap(reply[0]);
                    renderInspect();
                    $("inspect-card").hidden = false;
                    $("inspect-card").scrollIntoView({ block: "nearest" });
                })
                .catch(ex => {
                    showIn("backups-alert", errorBox(describeException(ex, "inspect")));
                })
                .finally(() => {
                    $("choose-button").disabled = !state.selected;
                });
    }

    function renderInspect() {
        const info = state.inspected;
        $("inspect-title").textContent = fmt(_("Restore $0"), info.name);
        const facts = $("inspect-facts");
        facts.replaceChildren();
        const fact = (term, value) => {
            if (value)
                facts.append(el("dt", {}, term), el("dd", {}, value));
        };
        fact(_("Created"), formatTime(info.created));
        fact(_("Backup process"), info.process === PRE_RESTORE ? _("Before a restore") : info.process);
        fact(_("Made on"), info["ip-address"] ? fmt(_("$0 (IP address $1)"), info.hostname, info["ip-address"]) : info.hostname);
        fact(_("STARFACE version"), info.version);
        fact(_("Size"), formatSize(info.size));

        let check;
        if (info.compatible) {
            check = alertBox("success", fmt(_("STARFACE $0 is equal to or older than the installed version $1: this backup can be restored."),
                                            info.version, info["installed-version"]));
        } else if (!info["installed-version"]) {
            check = alertBox("danger", _("The installed STARFACE version is unknown, so no backup can be restored."));
        } else {
            check = alertBox("danger", fmt(_("The backup was made by STARFACE $0, which is newer than the installed $1. Only backups of an equal or older version can be restored."),
                                           info.version, info["installed-version"]));
        }
        check.id = "version-check-result";
        check.dataset.compatible = info.compatible ? "true" : "false";
        showIn("version-check", check);

        const list = $("components");
        list.replaceChildren();
        for (const [id, dict] of info.components || []) {
            const c = unwrap(dict);
            const known = COMPONENTS[id];
            const box = el("input", { type: "checkbox", value: id, checked: true, "data-component": id });
            box.addEventListener("change", onOptionsChanged);
            list.append(el("label", { class: "sf-component" },
                           box,
                           el("span", { class: "sf-component-label" }, componentLabel(id, c.label)),
                           el("span", { class: "sf-component-meta" },
                              [known && (!c.label || c.label === known.label) ? _(known.help) + " · " : "",
                                  fmt(cockpit.ngettext("$0 file", "$0 files", Number(c.files)), formatCount(c.files)),
                                  ", ", formatSize(c.bytes)].join(""))));
        }
        $("ignore-ip").checked = false;
        showIn("inspect-alert", null);
        updatePreflightButton();
    }

    function chosenComponents() {
        return Array.from(document.querySelectorAll("#components input[type=checkbox]"));
    }

    function updatePreflightButton() {
        const boxes = chosenComponents();
        const any = boxes.some(b => b.checked);
        $("preflight-button").disabled = !state.inspected || !state.inspected.compatible || !any;
        if (state.inspected && state.inspected.compatible && !any)
            showIn("inspect-alert", alertBox("warning", _("Choose at least one kind of data to restore.")));
        else if ($("inspect-alert").querySelector(".sf-alert-warning"))
            showIn("inspect-alert", null);
    }

    function onOptionsChanged() {
        closePreflight();
        updatePreflightButton();
    }

    /* --- step 3: Preflight ----------------------------------------------------- */

    function preflight() {
        const boxes = chosenComponents();
        const chosen = boxes.filter(b => b.checked).map(b => b.value);
        /* all of them: the empty list, "every component" (as polkit sees it too) */
        const components = chosen.length === boxes.length ? [] : chosen;
        const ignoreIp = $("ignore-ip").checked;
        const name = state.inspected.name;
        $("preflight-button").disabled = true;
        closePreflight();
        showIn("inspect-alert", null);
        return client.call(PATH, IFACE, "Preflight",
                           [name, components, { "ignore-ip": cockpit.variant("b", ignoreIp) }],
                           { type: "sasa{sv}" })
                .then(reply => {
                    state.preflight = { name, components, ignoreIp, report: unwrap(reply[0]) };
                    renderPreflight();
                    $("preflight-card").hidden = false;
                    $("preflight-card").scrollIntoView({ block: "nearest" });
                })
                .catch(ex => showIn("inspect-alert", errorBox(describeException(ex, "preflight"))))
                .finally(updatePreflightButton);
    }

    function usersText(n) {
        return fmt(cockpit.ngettext("$0 logged-in user will be logged out", "$0 logged-in users will be logged out", n), formatCount(n));
    }

    function callsText(n) {
        return fmt(cockpit.ngettext("$0 active call will be ended", "$0 active calls will be ended", n), formatCount(n));
    }

    function renderPreflight() {
        const report = state.preflight.report;
        const known = !!report["sessions-known"];
        const users = Number(report["logged-in-users"] || 0);
        const calls = Number(report["active-calls"] || 0);
        $("users-count").textContent = known ? formatCount(users) : "?";
        $("users-label").textContent = cockpit.ngettext("logged-in user", "logged-in users", known ? users : 2);
        $("calls-count").textContent = known ? formatCount(calls) : "?";
        $("calls-label").textContent = cockpit.ngettext("active call", "active calls", known ? calls : 2);
        $("sessions-note").textContent = known
            ? _("The restore ends all of them: the PBX is stopped while the data is swapped.")
            : _("The numbers are unknown; the restore ends every login and call.");

        const checks = $("checks");
        checks.replaceChildren();
        const english = { blocker: (report.blockers || []).slice(), warning: (report.warnings || []).slice() };
        const blockers = [];
        const warnings = [];
        for (const [severity, code, args] of report.checks || []) {
            const fallback = english[severity] ? english[severity].shift() : "";
            const text = checkText(code, unwrap(args)) || fallback;
            (severity === "blocker" ? blockers : warnings).push({ code, text });
        }
        /* a service without 'checks' (v1.0): its English sentences */
        if (!report.checks) {
            for (const text of english.blocker)
                blockers.push({ code: "", text });
            for (const text of english.warning)
                warnings.push({ code: "", text });
        }
        const list = (items, kind, title) => {
            if (items.length === 0)
                return;
            const ul = el("ul", { class: "sf-list" });
            for (const item of items)
                ul.append(el("li", { "data-code": item.code, class: "sf-check-" + kind }, item.text));
            checks.append(alertBox(kind, title, null, ul));
        };
        list(blockers, "danger", cockpit.ngettext("The restore cannot run:", "The restore cannot run:", blockers.length));
        list(warnings, "warning", cockpit.ngettext("Before you restore, note:", "Before you restore, note:", warnings.length));

        const summary = $("preflight-summary");
        const canRun = blockers.length === 0 && !!report.token;
        if (canRun) {
            const parts = (report.components || []).map(id => componentLabelById(id));
            summary.textContent = fmt(_("$0 will be restored from $1, at $2 of disk space ($3 free)."),
                                      parts.join(", "), state.preflight.name,
                                      formatSize(report["bytes-required"]), formatSize(report["bytes-available"]));
        } else {
            summary.textContent = "";
        }
        $("restore-button").disabled = !canRun;
    }

    function openConfirm() {
        const report = state.preflight.report;
        $("confirm-title").textContent = fmt(_("Restore $0 now?"), state.preflight.name);
        const list = $("confirm-list");
        list.replaceChildren();
        if (report["sessions-known"]) {
            list.append(el("li", { id: "confirm-users" }, usersText(Number(report["logged-in-users"]))),
                        el("li", { id: "confirm-calls" }, callsText(Number(report["active-calls"]))));
        } else {
            list.append(el("li", { id: "confirm-unknown" },
                           _("An unknown number of logged-in users will be logged out and active calls ended.")));
        }
        $("confirm-button").textContent = _("Restore now");
        $("confirm-dialog").showModal();
    }

    /* --- step 4: Restore and its job ------------------------------------------ */

    function restore() {
        const p = state.preflight;
        $("confirm-dialog").close();
        $("restore-button").disabled = true;
        const options = {
            token: cockpit.variant("s", p.report.token),
            "ignore-ip": cockpit.variant("b", p.ignoreIp),
        };
        return client.call(PATH, IFACE, "Restore", [p.name, p.components, options], { type: "sasa{sv}" })
                .then(reply => {
                    const path = reply[0];
                    try {
                        window.sessionStorage.setItem(JOB_KEY, path);
                    } catch (e) {
                        /* no storage: a reload still finds a running restore */
                    }
                    closeFlow();
                    attachJob(path, { Operation: "restore", Backup: p.name, State: "running", Percent: 0, Stage: "starting" });
                })
                .catch(ex => {
                    const described = describeException(ex, "restore");
                    showIn("checks", errorBox(described));
                    if (ex && ex.name === ERR + "InvalidToken")
                        $("restore-button").disabled = true;
                    else
                        $("restore-button").disabled = false;
                    $("preflight-summary").textContent = "";
                });
    }

    function detachJob() {
        if (!state.job)
            return;
        for (const s of state.job.subscriptions)
            s.remove();
        state.job = null;
    }

    function attachJob(path, props) {
        if (state.job && state.job.path === path)
            return;
        detachJob();
        const job = { path, props: Object.assign({}, props || {}), subscriptions: [] };
        state.job = job;
        const mine = () => state.job === job;
        job.subscriptions.push(client.subscribe({ path, interface: PROPERTIES, member: "PropertiesChanged" },
                                                (p, i, s, args) => {
                                                    if (!mine() || args[0] !== JOB_IFACE)
                                                        return;
                                                    Object.assign(job.props, unwrap(args[1]));
                                                    renderJob();
                                                }));
        job.subscriptions.push(client.subscribe({ path: PATH, interface: IFACE, member: "Progress", arg0: path },
                                                (p, i, s, args) => {
                                                    if (!mine() || job.props.State !== "running")
                                                        return;
                                                    job.props.Percent = Math.max(Number(job.props.Percent || 0), args[1]);
                                                    job.props.Stage = args[2];
                                                    renderJob();
                                                }));
        job.subscriptions.push(client.subscribe({ path: PATH, interface: IFACE, member: "Finished", arg0: path },
                                                () => {
                                                    if (mine())
                                                        refreshJob(job);
                                                    refreshSoon();
                                                }));
        renderJob();
        $("job-card").hidden = false;
        refreshJob(job);
    }

    /* all the job's properties, after subscribing: nothing is missed */
    function refreshJob(job) {
        return client.call(job.path, PROPERTIES, "GetAll", [JOB_IFACE], { type: "s" })
                .then(reply => {
                    if (state.job !== job)
                        return;
                    Object.assign(job.props, unwrap(reply[0]));
                    renderJob();
                })
                .catch(ex => {
                    if (state.job !== job)
                        return;
                    if (ex && ex.name === DBUS_ERR + "UnknownObject") {
                        /* expired: its outcome is in the history */
                        forgetJob();
                        return;
                    }
                    showIn("job-result", errorBox(describeException(ex, "restore")));
                });
    }

    function forgetJob() {
        detachJob();
        try {
            window.sessionStorage.removeItem(JOB_KEY);
        } catch (e) {
        }
        $("job-card").hidden = true;
    }

    function renderJob() {
        const job = state.job;
        if (!job)
            return;
        const p = job.props;
        const running = !p.State || p.State === "running";
        const percent = Math.min(100, Number(p.Percent || 0));
        const card = $("job-card");
        card.dataset.state = p.State || "running";
        card.dataset.job = job.path;
        $("job-title").textContent = running
            ? fmt(_("Restoring $0"), p.Backup || "")
            : fmt(_("Restore of $0"), p.Backup || "");
        $("job-stage").textContent = running ? stageText(p.Stage || "starting") : stageText(p.State);
        $("job-percent").textContent = fmt(_("$0 %"), formatCount(percent));
        $("job-bar").setAttribute("aria-valuenow", String(percent));
        $("job-fill").style.width = percent + "%";
        const progress = $("job-progress");
        progress.classList.toggle("sf-progress-success", p.State === "done");
        progress.classList.toggle("sf-progress-danger", p.State === "failed" || p.State === "canceled");

        /* a restore can be canceled until the PBX is stopped */
        const cancelable = running && (!p.Stage || p.Stage === "starting" || p.Stage === "extracting");
        $("job-cancel").hidden = !running;
        $("job-cancel").disabled = !cancelable;
        $("job-close").hidden = running;

        const details = unwrap(p.Details || {});
        const undo = details["pre-restore-backup"];
        $("undo-button").hidden = running || p.State !== "done" || !undo;
        if (running) {
            showIn("job-result", p.Stage === "stopping-pbx" || p.Stage === "activating" || p.Stage === "starting-pbx"
                ? alertBox("warning", _("The PBX is stopped for the swap; it starts again by itself. Do not switch off the machine."))
                : null);
            return;
        }
        if (p.State === "done") {
            const facts = el("div", {});
            if (details["pbx-downtime-ms"] !== undefined)
                facts.append(el("p", { class: "sf-alert-detail", id: "job-downtime" },
                                fmt(_("The PBX was down for $0."), formatDuration(details["pbx-downtime-ms"]))));
            if (undo)
                facts.append(el("p", { class: "sf-alert-detail", id: "job-undo" },
                                fmt(_("The previous state was saved as $0: restore it to undo this restore."), undo)));
            if (details.warning)
                facts.append(alertBox("warning", _("The previous state is not saved yet; the service keeps the old data and tries again."), details.warning));
            showIn("job-result", alertBox("success", fmt(_("$0 was restored."), p.Backup), null, facts));
        } else {
            showIn("job-result", errorBox(describeError(p.ErrorName || ERR + "Failed", p.ErrorMessage, "restore")));
        }
    }

    function cancelJob() {
        const job = state.job;
        if (!job)
            return;
        $("job-cancel").disabled = true;
        client.call(job.path, JOB_IFACE, "Cancel", [], { type: "" })
                .catch(ex => {
                    if (ex && ex.name === ERR + "Busy")
                        showIn("job-result", alertBox("warning", _("The restore is past the point where it can be canceled; it completes or rolls back by itself.")));
                    else
                        showIn("job-result", errorBox(describeException(ex, "cancel")));
                });
    }

    function undoRestore() {
        const undo = unwrap(state.job.props.Details || {})["pre-restore-backup"];
        forgetJob();
        loadBackups().then(() => {
            if (!state.backups.some(([name, info]) => name === undo && restorable(info)))
                return;
            state.selected = undo;
            renderBackups();
            inspect(undo);
        });
    }

    /* On load: a restore that runs (started here before a reload, from the
     * command line or by an agent), or the one this page started. */
    function findJobs() {
        let remembered = null;
        try {
            remembered = window.sessionStorage.getItem(JOB_KEY);
        } catch (e) {
        }
        return client.call(PATH, OBJECT_MANAGER, "GetManagedObjects", [], { type: "" })
                .then(reply => {
                    const objects = reply[0];
                    const jobs = Object.keys(objects)
                            .filter(path => objects[path][JOB_IFACE])
                            .map(path => ({ path, props: unwrap(objects[path][JOB_IFACE]) }))
                            .filter(job => job.props.Operation === "restore");
                    const running = jobs.find(job => job.props.State === "running");
                    const mine = jobs.find(job => job.path === remembered);
                    const found = running || mine;
                    if (found)
                        attachJob(found.path, found.props);
                    else if (remembered)
                        forgetJob();
                })
                .catch(() => {
                    /* an older service without ObjectManager: the Jobs property */
                    return client.call(PATH, PROPERTIES, "Get", [IFACE, "Jobs"], { type: "ss" })
                            .then(reply => {
                                const paths = reply[0].v || [];
                                return Promise.all(paths.map(path =>
                                    client.call(path, PROPERTIES, "GetAll", [JOB_IFACE], { type: "s" })
                                            .then(r => ({ path, props: unwrap(r[0]) }), () => null)));
                            })
                            .then(jobs => {
                                const found = jobs.find(j => j && j.props.Operation === "restore" &&
                                                        (j.props.State === "running" || j.path === remembered));
                                if (found)
                                    attachJob(found.path, found.props);
                            })
                            .catch(() => {});
                });
    }

    /* --- uploads: the client reads the file from its standard input ---------- */

    /* Pongs of the bridge answer the pings sent after each block: the bytes
     * before a ping have been passed on towards the client. cockpit.js drops
     * pongs, so an incoming filter picks them up. */
    const pongHandlers = {};
    cockpit.transport.filter((data, channel, control) => {
        if (!channel && control && control.command === "pong" && control.channel in pongHandlers) {
            pongHandlers[control.channel](control);
            return false;
        }
        return true;
    }, false);

    function uploadNameInput() {
        const file = $("upload-file").files[0];
        const name = $("upload-name").value;
        let problem = null;
        let kind = "error";
        if (file || name)
            problem = checkUploadName(name);
        if (!problem && !$("upload-replace").checked && state.backups.some(([n]) => n === name)) {
            problem = _("A backup of this name already exists. Choose another name, or tick \"Replace a backup of the same name\".");
            kind = "exists";
        }
        const error = $("upload-name-error");
        error.textContent = problem || "";
        error.hidden = !problem;
        error.dataset.kind = kind;
        $("upload-name").setAttribute("aria-invalid", problem ? "true" : "false");
        $("upload-button").disabled = !file || !!problem || !!state.upload;
        return !problem;
    }

    function onFileChosen() {
        const file = $("upload-file").files[0];
        if (file)
            $("upload-name").value = file.name;
        $("upload-file-name").textContent = file ? fmt(_("$0 ($1)"), file.name, formatSize(file.size)) : _("No file chosen");
        showIn("upload-result", null);
        uploadNameInput();
    }

    function renderUploadProgress(sent, total, stage) {
        $("upload-progress").hidden = false;
        $("upload-stage").textContent = stage;
        $("upload-bytes").textContent = fmt(_("$0 of $1"), formatSize(sent), formatSize(total));
        const percent = total > 0 ? Math.floor(sent * 100 / total) : 100;
        $("upload-bar").setAttribute("aria-valuenow", String(percent));
        $("upload-fill").style.width = percent + "%";
    }

    function startUpload() {
        if (!uploadNameInput() || state.upload)
            return;
        const file = $("upload-file").files[0];
        const name = $("upload-name").value;
        const args = [CLIENT, "upload", "-", "--name=" + name, "--json"];
        if ($("upload-replace").checked)
            args.push("--replace");

        const channel = cockpit.channel({
            payload: "stream", spawn: args, binary: true, superuser: "try", err: "message",
        });
        const upload = { channel, name, file, sent: 0, acked: 0, closed: null, output: [], wake: null };
        state.upload = upload;
        $("upload-button").disabled = true;
        $("upload-cancel").hidden = false;
        $("upload-file").disabled = true;
        $("upload-name").disabled = true;
        showIn("upload-result", null);
        renderUploadProgress(0, file.size, _("Sending the file"));

        const wake = () => {
            if (upload.wake) {
                const w = upload.wake;
                upload.wake = null;
                w();
            }
        };
        const waitForEvent = () => new Promise(resolve => { upload.wake = resolve });

        channel.addEventListener("message", (event, data) => upload.output.push(data));
        channel.addEventListener("close", (event, options) => {
            upload.closed = options;
            delete pongHandlers[channel.id];
            wake();
        });

        const send = async () => {
            await channel.wait().catch(() => {});
            if (!upload.closed)
                pongHandlers[channel.id] = pong => {
                    upload.acked = Math.max(upload.acked, Number(pong.sequence) || 0);
                    renderUploadProgress(upload.acked, file.size,
                                         upload.acked < file.size ? _("Sending the file") : _("Checking the backup on this machine"));
                    wake();
                };
            while (!upload.closed && upload.sent < file.size) {
                if (upload.sent - upload.acked >= UPLOAD_WINDOW) {
                    await waitForEvent();
                    continue;
                }
                const end = Math.min(file.size, upload.sent + UPLOAD_BLOCK);
                const block = new Uint8Array(await file.slice(upload.sent, end).arrayBuffer());
                if (upload.closed)
                    break;
                channel.send(block);
                upload.sent = end;
                channel.control({ command: "ping", sequence: upload.sent });
            }
            if (!upload.closed)
                channel.control({ command: "done" });
            while (!upload.closed)
                await waitForEvent();
            finishUpload(upload);
        };
        send().catch(ex => {
            if (!upload.closed)
                channel.close("terminated");
            upload.closed = upload.closed || { problem: "internal-error", message: String(ex) };
            finishUpload(upload);
        });
    }

    function clientOutcome(upload) {
        const decoder = new TextDecoder();
        const text = upload.output.map(chunk => typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
        try {
            return JSON.parse(text);
        } catch (e) {
            return null;
        }
    }

    /* the client's exit statuses (starface-backup(1)) for refusals before the
     * upload job exists (the client prints no JSON then); its message on
     * stderr is the detail. The job's own errors come with their names. */
    const EXIT_STATUS_SENTENCES = {
        2: N_("The command-line client did not accept the upload's arguments."),
        3: null, /* NotAuthorized: the operation's own sentence */
        4: N_("The backup service could not find what the upload needs."),
        5: N_("The backup service refused the upload."),
        6: N_("A backup of this name already exists, or another upload of it or too many uploads are running."),
        7: N_("There is not enough disk space, or the backup exceeds a limit this machine sets for backups."),
        8: N_("The upload was canceled; nothing was stored."),
        9: N_("The backup service is not installed or cannot be started."),
    };

    function finishUpload(upload) {
        if (state.upload !== upload)
            return;
        state.upload = null;
        $("upload-cancel").hidden = true;
        $("upload-file").disabled = false;
        $("upload-name").disabled = false;
        const closed = upload.closed || {};
        const outcome = clientOutcome(upload);
        const stderr = (closed.message || "").trim().replace(/^starface-backup upload: /, "");

        if (outcome && outcome.result === "done" && !closed.problem) {
            renderUploadProgress(upload.file.size, upload.file.size, _("Uploaded"));
            const box = alertBox("success", fmt(_("$0 was uploaded and checked."), upload.name));
            box.id = "upload-done";
            showIn("upload-result", box);
            $("upload-file").value = "";
            $("upload-name").value = "";
            $("upload-file-name").textContent = _("No file chosen");
            state.selected = upload.name;
            loadBackups().then(() => {
                renderBackups();
                loadHistory();
            });
            uploadNameInput();
            return;
        }
        $("upload-progress").hidden = true;
        let described;
        if (upload.canceled) {
            described = describeError(ERR + "Canceled", null, "upload");
        } else if (outcome && outcome.error) {
            described = describeError(outcome.error, outcome.message, "upload");
        } else if (closed.problem === "not-found") {
            described = { title: _("The command-line client starface-backup is not installed on this machine."), detail: closed.message };
        } else if (closed.problem) {
            described = describeException(closed, "upload");
        } else {
            const status = closed["exit-status"];
            if (status === 3)
                described = describeError(ERR + "NotAuthorized", stderr, "upload");
            else if (EXIT_STATUS_SENTENCES[status])
                described = { title: _(EXIT_STATUS_SENTENCES[status]), detail: stderr };
            else
                described = { title: _(FAILED_SENTENCES.upload), detail: stderr };
        }
        const box = errorBox(described);
        box.id = "upload-error";
        showIn("upload-result", box);
        uploadNameInput();
        loadHistory();
    }

    function cancelUpload() {
        const upload = state.upload;
        if (!upload)
            return;
        upload.canceled = true;
        /* the client ends, leaves the bus, and the service cancels the job */
        upload.channel.close("terminated");
    }

    /* --- history ----------------------------------------------------------------- */

    const RESULTS = {
        done: N_("Done"),
        failed: N_("Failed"),
        canceled: N_("Canceled"),
    };

    const OPERATIONS = {
        restore: N_("Restore"),
        upload: N_("Upload"),
    };

    function loadHistory() {
        return client.call(PATH, IFACE, "GetHistory", [20], { type: "u" })
                .then(reply => renderHistory(reply[0].map(unwrap), null))
                .catch(ex => {
                    if (ex && ex.name === DBUS_ERR + "UnknownMethod")
                        $("history-card").hidden = true; /* a service before v1.1 */
                    else
                        renderHistory([], describeException(ex, "history"));
                });
    }

    function renderHistory(entries, error) {
        showIn("history-alert", error ? errorBox(error) : null);
        $("history-table").hidden = !!error || entries.length === 0;
        $("history-empty").hidden = !!error || entries.length > 0;
        const body = $("history-body");
        body.replaceChildren();
        for (const e of entries) {
            let result = RESULTS[e.result] ? _(RESULTS[e.result]) : e.result;
            let title = null;
            if (e.result !== "done" && e["error-name"]) {
                const described = describeError(e["error-name"], e["error-message"], e.operation);
                result = result + ": " + described.title;
                title = e["error-message"] || null;
            }
            const components = (e.components || []).map(id => componentLabel(id)).join(", ");
            body.append(el("tr", { "data-job": e.job },
                           el("td", { class: "sf-time" }, formatTime(e.finished)),
                           el("td", {}, OPERATIONS[e.operation] ? _(OPERATIONS[e.operation]) : e.operation),
                           el("td", { class: "sf-name" }, e.backup || ""),
                           el("td", {}, e.operation === "restore" ? (components || _("All")) : ""),
                           el("td", {}, e.uid === 0 ? "root" : String(e.uid)),
                           el("td", { class: e.result === "done" ? "" : "sf-status-problem", title }, result),
                           el("td", { class: "sf-numeric" }, e["pbx-downtime-ms"] !== undefined ? formatDuration(e["pbx-downtime-ms"]) : "")));
        }
    }

    /* --- keeping up with what others do ----------------------------------- */

    let refreshTimer = null;
    function refreshSoon() {
        if (refreshTimer)
            return;
        refreshTimer = window.setTimeout(() => {
            refreshTimer = null;
            loadBackups();
            loadHistory();
        }, 300);
    }

    function watchService() {
        /* a restore started elsewhere: show it, unless one is shown */
        client.subscribe({ path: PATH, interface: OBJECT_MANAGER, member: "InterfacesAdded" },
                         (p, i, s, args) => {
                             const props = args[1] && args[1][JOB_IFACE];
                             if (!props)
                                 return;
                             const job = unwrap(props);
                             if (job.Operation === "restore" &&
                                 (!state.job || (state.job.props.State && state.job.props.State !== "running")))
                                 attachJob(args[0], job);
                         });
        /* any job that ends changes the list or the history */
        client.subscribe({ path: PATH, interface: IFACE, member: "Finished" }, () => refreshSoon());
    }

    /* --- wiring ------------------------------------------------------------------ */

    function init() {
        cockpit.translate();
        document.documentElement.lang = language;
        document.title = _("STARFACE backup");

        $("refresh-button").addEventListener("click", () => {
            loadBackups();
            loadHistory();
        });
        $("choose-button").addEventListener("click", () => {
            if (state.selected)
                inspect(state.selected);
        });
        $("inspect-close").addEventListener("click", closeFlow);
        $("ignore-ip").addEventListener("change", onOptionsChanged);
        $("preflight-button").addEventListener("click", preflight);
        $("preflight-close").addEventListener("click", closeFlow);
        $("restore-button").addEventListener("click", openConfirm);
        $("confirm-button").addEventListener("click", restore);
        $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
        $("job-cancel").addEventListener("click", cancelJob);
        $("job-close").addEventListener("click", forgetJob);
        $("undo-button").addEventListener("click", undoRestore);

        $("upload-toggle").addEventListener("change", () => {
            $("upload-panel").hidden = !$("upload-toggle").checked;
        });
        $("upload-file").addEventListener("change", onFileChosen);
        $("upload-name").addEventListener("input", uploadNameInput);
        $("upload-replace").addEventListener("change", uploadNameInput);
        $("upload-button").addEventListener("click", startUpload);
        $("upload-cancel").addEventListener("click", cancelUpload);

        /* the service cannot be reached (any more): one message, no cards */
        client.addEventListener("close", (event, options) => {
            const described = describeException(options, "read");
            const box = $("page-alert");
            box.replaceChildren(el("p", { class: "sf-alert-title" }, described.title));
            if (described.detail)
                box.append(el("p", { class: "sf-alert-detail" }, described.detail));
            box.hidden = false;
            for (const card of document.querySelectorAll(".sf-card"))
                card.hidden = true;
        });

        watchService();
        Promise.all([loadBackups(), findJobs(), loadHistory()]).finally(() => {
            $("page").setAttribute("aria-busy", "false");
            $("page").dataset.ready = "true";
        });
    }

    /* exported for the tests of the name rule */
    window.starfaceBackup = { checkUploadName };

    if (document.readyState === "loading")
        document.addEventListener("DOMContentLoaded", init);
    else
        init();
}());
