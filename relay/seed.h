/*
 * seed.h — a cloud-init NoCloud seed (meta-data, user-data, network-config,
 * as libvirt, Proxmox and cloud-localds write them) turned into the
 * appliance's configuration files. Pure: the three texts in, the files'
 * texts out; `mxgatectl seed apply` (ctl_seed.c) writes and commits them.
 *
 * meta-data      instance-id (required), local-hostname
 * network-config version 1 (a physical interface's first subnets, the
 *                nameserver entries) or 2 (the first of `ethernets`:
 *                dhcp4, addresses, gateway4/gateway6 or default routes,
 *                nameservers), also under a top-level `network:` key
 * user-data      "#cloud-config": hostname/fqdn, users (name, passwd as a
 *                SHA-512 crypt hash or none, lock_passwd, groups: mxadmin,
 *                admin, sudo or wheel make an admin), ntp (enabled,
 *                servers, pools), write_files (only /etc/mxgate/
 *                mailboxes, network.conf, ntp.conf, mxgate.conf,
 *                log-archive-key.pem; text content), and `mxgate:`, the
 *                relay configuration as a block
 *
 * An OpenStack config drive (config-2) gives the same from meta_data.json,
 * network_data.json and user_data (seed_read_config2 below).
 *
 * An OVF environment (ovf-env.xml, vSphere's and VirtualBox's ISO
 * transport; xml.h) gives the same files from the properties the OVA
 * declares: hostname; network.mode (dhcp or static), network.address
 * (v4/prefix), network.gateway, network.dns, network.address6,
 * network.gateway6; ntp.servers; mxgate.domain and mxgate.servers (a
 * route each domain to those servers), mxgate.tls, mxgate.postmaster;
 * admin.password_hash (a SHA-512 crypt hash for the account admin);
 * instance-id.
 *
 * Every other key is ignored with one note each; a user-data that is no
 * #cloud-config (a script) is ignored with a note. A seed that does not
 * parse, or asks for something it may not, is refused whole.
 */
#ifndef MXGATE_SEED_H
#define MXGATE_SEED_H

#include <stddef.h>

#define SEED_MAX_USERS	16
#define SEED_MAX_FILES	8
#define SEED_MAX_NOTES	32

struct seed_user {
	char	 name[32];
	char	 hash[160];	/* "$6$...", or "" for none (locked) */
	int	 admin;
};

struct seed_file {
	char	 name[32];	/* in /etc/mxgate: mailboxes, mxgate.conf... */
	char	*text;
};

struct seed {
	char		 instance_id[128];
	char		 hostname[256];	/* "" when the seed names none */
	struct seed_file files[SEED_MAX_FILES];	/* what to write */
	int		 nfiles;
	struct seed_user users[SEED_MAX_USERS];
	int		 nusers;
	char		 notes[SEED_MAX_NOTES][160];	/* what was ignored */
	int		 nnotes;
	int		 conf_setup;	/* mxgate.conf holds what setup asks
					 * about: the rest is kept, as setup
					 * keeps it (an OVF environment) */
};

/* 0 and *s filled (seed_free it), or -1 with the reason in err ("FILE:
 * LINE: why" where a line is known). user and net may be NULL. */
int seed_read(const char *meta, size_t meta_len, const char *user,
    size_t user_len, const char *net, size_t net_len, struct seed *s,
    char *err, size_t errlen);
void seed_free(struct seed *s);
/* The same from an OVF environment document (ovf-env.xml): the
 * properties the OVA declares (see seed.c, ovf_keys), each optional; an
 * instance-id, when the properties give none, named after their values,
 * so that changed properties are applied again. */
int seed_read_ovf(const char *xml, size_t len, struct seed *s, char *err,
    size_t errlen);
/* The same from an OpenStack config drive (openstack/latest/):
 * meta_data.json (uuid as the instance-id, hostname; json.h),
 * network_data.json (the first ipv4 or ipv4_dhcp network, the first
 * ipv6 one, their default routes, the dns services) and user_data (the
 * #cloud-config above). user and net may be NULL. */
int seed_read_config2(const char *meta, size_t meta_len, const char *user,
    size_t user_len, const char *net, size_t net_len, struct seed *s,
    char *err, size_t errlen);
/* The file of that name in s, or NULL. */
const char *seed_file(const struct seed *s, const char *name);

#endif
