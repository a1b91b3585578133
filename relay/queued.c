/*
 * queued.c — see queued.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "queued.h"
#include "util.h"

/* Next NUL-terminated string of at most max bytes in [p, end). */
static const char *
env_string(const char **p, const char *end, size_t max)
{
	const char *s = *p, *nul = memchr(s, '\0', (size_t)(end - s));

	if (nul == NULL || (size_t)(nul - s) > max)
		return NULL;
	*p = nul + 1;
	return s;
}

static int
store(struct queue *q, const struct ipc_queue_put *put, int fd, char *qid)
{
	struct queue_msg m;
	struct stat st;
	struct iovec iov;
	const char *env, *p, *end, *s;
	char line[1024];
	size_t total;
	uint32_t i;
	void *map;
	int status = QUEUE_EINVAL;

	total = (size_t)put->env_len + (size_t)put->msg_len;
	if (put->msg_len > QUEUE_BODY_MAX || put->nrcpt == 0 ||
	    put->nrcpt > QUEUE_RCPT_MAX || fstat(fd, &st) != 0 ||
	    (uint64_t)st.st_size < total || total == 0)
		return QUEUE_EINVAL;
	map = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return QUEUE_ERR;
	env = map;
	p = env;
	end = env + put->env_len;
	queue_msg_init(&m);
	if ((s = env_string(&p, end, ADDR_PATH_MAX)) == NULL)
		goto out;
	str_copy(m.from, s, sizeof(m.from));
	if ((s = env_string(&p, end, ADDR_DOMAIN_MAX)) == NULL || *s == '\0')
		goto out;
	str_copy(m.route_domain, s, sizeof(m.route_domain));
	for (i = 0; i < put->nrcpt; i++)
		if ((s = env_string(&p, end, ADDR_PATH_MAX)) == NULL ||
		    strchr(s, '@') == NULL || queue_msg_add_rcpt(&m, s) != 0)
			goto out;
	if (p != end)
		goto out;
	iov.iov_base = (char *)map + put->env_len;
	iov.iov_len = (size_t)put->msg_len;
	status = queue_put(q, &m, &iov, 1);
	if (status == QUEUE_OK) {
		str_copy(qid, m.id, 24);
		if (queue_log_line(line, sizeof(line), &m, QEV_QUEUED, 0, NULL,
		    wall_us()) > 0)
			log_msg("qmgr", "%s", line);
	}
out:
	queue_msg_free(&m);
	munmap(map, total);
	return status;
}

/* Serves every pending request on ch; 0 at EOF. */
static int
serve(struct queue *q, int ch)
{
	struct ipc_queue_put put;
	struct ipc_queue_rep rep;
	enum ipc_type type;
	int fd, r;

	while ((r = ipc_recv(ch, &type, &put, &fd)) == 1) {
		if (type != IPC_QUEUE_PUT)
			fatalx(EXIT_TEMP, "queue: unexpected message %d", type);
		memset(&rep, 0, sizeof(rep));
		rep.id = put.id;
		rep.status = store(q, &put, fd, rep.qid);
		close(fd);
		if (rep.status != QUEUE_OK)
			log_msg("qmgr", "NOQUEUE: store refused: %s",
			    queue_strerror(rep.status));
		if (ipc_send(ch, IPC_QUEUE_REP, &rep, sizeof(rep), -1) != 0)
			log_msg("qmgr", "reply to worker: %s", strerror(errno));
	}
	return r == 0 ? 0 : 1;
}

static int
serve_peer(void *arg, int fd, int peer)
{
	return serve(arg, fd);
}

int
queued_main(const struct config *cf, struct queue *q, int ctl,
    const struct sandbox_ids *ids)
{
	sandbox_enter(ROLE_QUEUE, ids);
	log_msg("qmgr", "queue owner ready: %s", cf->queue_dir);
	ipc_serve_peers(ctl, "qmgr", serve_peer, q);
	queue_close(q);
	return EXIT_OK;
}
