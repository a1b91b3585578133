/*
 * session.h — the relay's internal objects, shared by worker.c (listeners,
 * signals, reload, drain), session.c (one inbound SMTP session and its
 * mail transaction); the connection to the customer's server is the
 * outbound engine of upstream.h.
 *
 * Ownership: the relay owns its sessions; a session owns its buffers, its
 * message content and at most one upstream. Nothing here is shared
 * between processes.
 */
#ifndef MXGATE_SESSION_H
#define MXGATE_SESSION_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "dnsbl.h"
#include "gate.h"
#include "loop.h"
#include "net.h"
#include "queue.h"
#include "smtp_client.h"
#include "smtp_server.h"
#include "upstream.h"

#define SESSION_IN_CHUNK	4096		/* read size, command phase */
#define SESSION_DATA_CHUNK	65536		/* read size, DATA phase */
#define SESSION_IN_MAX		(SESSION_DATA_CHUNK + 2048)
#define SESSION_OUT_MAX		(64 * 1024)	/* queued replies */
#define SESSION_OUT_HIGH	(48 * 1024)	/* stop reading above this */
#define DRAIN_MAX_MS		60000		/* SIGTERM: longest drain */

/* A configuration shared by the sessions that started under it. */
struct cfg {
	struct config	*cf;
	int		 refs;
};

struct relay;
struct session;

enum tx_mode { TX_PROXY, TX_OUTAGE, TX_MAIL_REJECTED };
enum tx_pend { PEND_NONE, PEND_RCPT, PEND_EOM, PEND_QUEUE };

struct tx {
	int			 active;
	char			 qid[QUEUE_ID_LEN + 1];
	struct smtp_path	 from;
	uint64_t		 size_decl;
	int			 body_8bit;
	char			 params[SMTP_MAIL_PARAMS_MAX];	/* DSN */
	const struct route	*route;
	char			(*rcpt)[ADDR_PATH_MAX + 1]; /* accepted */
	char			(*rparams)[SMTP_RCPT_PARAMS_MAX]; /* theirs */
	int			 nrcpt, caprcpt;
	enum tx_mode		 mode;
	char			 reject[SMTP_CLIENT_TEXT_MAX + 8];
	char			 outage[ADDR_DOMAIN_MAX + 160]; /* why */
	struct smtp_path	 pending;	/* RCPT awaiting upstream */
	char			 pending_params[SMTP_RCPT_PARAMS_MAX];
	enum tx_pend		 pend;
	int			 mail_sent, mail_ok;
	int			 host;		/* route server in use */
	int			 down;		/* a server failed (outage) */
	int			 refused;	/* a server refused service */
	uint32_t		 put_id;	/* PEND_QUEUE: request number */
	int			 finished;	/* customer answered the dot */
	uint64_t		 msg_size;
	int64_t			 t_start, t_eom;	/* mono ms */
};

struct session {
	struct relay		*r;
	struct cfg		*cfg;
	const struct config	*cf;
	struct session		*prev, *next;
	int			 fd;
	struct watch		 w;
	struct timer		 t_idle, t_life;
	struct buf		 in, out, msg;
	uint64_t		 msg_charged;	/* bytes counted in budget */
	struct smtp_server	 srv;
	struct smtp_limits	 lim;
	struct netaddr		 peer;
	char			 peer_ip[NET_ADDRSTRLEN];
	char			 client[NET_ADDRSTRLEN + 16]; /* unknown[ip] */
	int			 pregreet;
	int			 tls_required;	/* MAIL needs TLS first */
	/* gating (gate.c): the ticket from admission, the pre-banner
	 * wait, the DNSBL check and the in-session abuse counters */
	struct gate_ticket	 gt;
	int			 admitted;	/* gt must be released */
	int			 gating;	/* banner not sent yet */
	int			 wait_done;	/* pregreet wait over */
	struct timer		 t_gate;
	struct dnsbl_check	*dnsbl_chk;	/* pending check */
	int			 dnsbl_score;
	char			 dnsbl_text[GATE_DETAIL_MAX];	/* for logs */
	struct gate_session	 gs;
	struct tls_conn		*tls;		/* after STARTTLS */
	int			 starttls;	/* 220 queued: switch when sent */
	int			 handshaking;
	int			 closing;	/* flush replies, then close */
	int			 drain;		/* close after this tx */
	struct tx		 tx;
	struct upstream		*up;
	int			 dead;		/* closed; freed after the turn */
	struct session		*dead_next;
};

struct relay {
	struct loop		*loop;
	struct cfg		*cfg;		/* current */
	int			 slot, nworkers;
	struct upstream_env	 outbound;	/* jail channel, TLS client,
						   dead-server memory */
	struct watch		 jailw;
	struct gate		*gate;		/* shared admission table */
	struct dnsbl_client	*dnsbl;		/* NULL: no DNSBL zones */
	struct tls_server	*tls_srv;	/* inbound STARTTLS, or NULL */
	int			 queue_fd;	/* channel to the queue owner */
	struct watch		 queuew;
	uint32_t		 queue_seq;
	int			 lfd[CONF_MAX_LISTEN];
	struct watch		 lw[CONF_MAX_LISTEN];
	int			 nlisten;
	int			 sigfd;
	struct watch		 sigw;
	struct session		*sessions;
	int			 nsessions;
	struct session		*graveyard;	/* closed this loop turn */
	uint64_t		 mem_used;	/* message bytes held */
	int			 draining;	/* SIGTERM: close sessions */
	int			 retiring;	/* reload: let sessions end */
	int64_t			 drain_deadline;
	unsigned		 qid_seq;
};

/* session.c */
/* listener: the index in the configuration's listen lines (its TLS
 * policy), or -1 */
void session_accept(struct relay *r, int fd, const struct sockaddr_storage *ss,
    int listener);
void session_close(struct session *s, const char *reason);
void session_process(struct session *s);
void session_drain(struct session *s);
/* Frees the sessions closed during the last loop turn: a callback chain
 * may still hold a closed session, never a freed one. */
void session_reap(struct relay *r);
/* called by worker.c: the queue owner's answer, or its loss */
void session_queue_reply(struct relay *r, uint32_t id, int status,
    const char *qid);
void session_queue_lost(struct relay *r);

/* worker.c */
void cfg_release(struct cfg *c);
/* this worker's share of the relay-wide limits */
uint64_t relay_budget(const struct session *s);
int relay_max_sessions(const struct session *s);

#endif
