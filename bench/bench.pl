#!/usr/bin/perl
# bench/bench.pl — the `make bench` driver: mxgate, Postfix and OpenSMTPD
# as pass-through relays for one domain toward Postfix's smtp-sink, on
# 127.0.0.1 only, the same workloads one after the other, several rounds
# interleaved; medians go to a table, a CSV and a gnuplot chart.
#
# Called by bench/bench.mk with everything it needs in the environment
# (BENCH_OUT, MXGATE, MXLOAD, OPENSMTPD_ROOT, ...; see %C below). Owns
# $BENCH_OUT (configs, spools, logs, results) and /dev/shm/mxbench.PID
# (sink dumps for the latency runs). Starts every system itself and stops
# every process it started, by pid or process group, on every exit path.
# It never fails because one system is missing or broken: that system's
# cells read "n/a" and the reason is printed. What each figure measures is
# written in docs/BENCHMARKS.md; keep the two in step.
use strict;
use warnings;
use POSIX qw(WNOHANG setsid _exit strftime);
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use File::Path qw(make_path remove_tree);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);

$| = 1;
my %C = (
	out      => $ENV{BENCH_OUT} // die("BENCH_OUT not set\n"),
	rounds   => $ENV{BENCH_ROUNDS} // 3,
	scale    => $ENV{BENCH_SCALE} // 1,	# message counts x scale
	budget   => $ENV{BENCH_TIMEOUT} // 600,	# seconds, whole run
	run_max  => $ENV{BENCH_RUN_TIMEOUT} // 180,	# seconds, one run
	# below the ephemeral range (32768-60999): no client socket of any
	# other program can be sitting on one of our ports
	port     => $ENV{BENCH_PORT_BASE} // 24250,
	idle     => $ENV{BENCH_IDLE} // 1000,	# sessions held open
	systems  => $ENV{BENCH_SYSTEMS} // 'direct mxgate postfix opensmtpd',
	only     => $ENV{BENCH_WORKLOADS} // '',
	mxgate   => $ENV{MXGATE} // '',
	mxgate_why => $ENV{MXGATE_BUILD} // '',	# non-empty: build failed
	mxload   => $ENV{MXLOAD} // die("MXLOAD not set\n"),
	gatebench => $ENV{GATEBENCH} // '',	# bench/gatebench.c
	osmtpd   => $ENV{OPENSMTPD_ROOT} // '',
	backlog_so => $ENV{BACKLOG_SO} // '',	# LD_PRELOAD shim (backlog.c)
	os_backlog => $ENV{BENCH_OPENSMTPD_BACKLOG} // 1024,	# 0 = as shipped
	sink     => '/usr/sbin/smtp-sink',
	source   => '/usr/sbin/smtp-source',
	pf_master => '/usr/lib/postfix/sbin/master',
);
my $T0 = time;
my $DEADLINE = $T0 + $C{budget};
my $RUN = "$C{out}/run";
my $SHM = "/dev/shm/mxbench.$$";
my $HZ = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
my %PORT = (sink => $C{port}, mxgate => $C{port} + 1,
    postfix => $C{port} + 2, opensmtpd => $C{port} + 3);
my @SYSTEMS = grep { /^(direct|mxgate|postfix|opensmtpd)$/ }
    split ' ', $C{systems};
my %NA;		# system => reason it is not measured
my @RESULTS;	# { round, w, sys, metric, value }
my %NOTE;	# "w/sys" => note shown under the table

sub say_ { printf "bench: %s\n", join('', @_) }
sub scaled { my $n = int($_[0] * $C{scale}); $n < 10 ? 10 : $n }

# ---------------------------------------------------------------- workloads
# kind: source (smtp-source), mxload (own client), latency, idle, queue.
my @WORKLOADS = (
	{ id => 'a20', kind => 'source', s => 20, m => scaled(5000),
	  l => 10240, reuse => 1,
	  desc => '10 KB, 20 parallel sessions, many messages per session' },
	{ id => 'a100', kind => 'source', s => 100, m => scaled(5000),
	  l => 10240, reuse => 1,
	  desc => '10 KB, 100 parallel sessions, many messages per session' },
	{ id => 'b', kind => 'source', s => 20, m => scaled(500),
	  l => 102400, reuse => 1,
	  desc => '100 KB, 20 parallel sessions' },
	{ id => 'c', kind => 'source', s => 20, m => scaled(1000),
	  l => 10240, reuse => 0,
	  desc => 'connection churn: one 10 KB message per session, 20 parallel' },
	{ id => 'lat', kind => 'latency', s => 4, m => scaled(500),
	  l => 10240,
	  desc => 'latency: 4 sessions, 10 KB, each message timed (mxload)' },
	{ id => 'd', kind => 'mxload', s => 20, m => scaled(500),
	  l => 10240, tls => 1,
	  desc => 'STARTTLS on every session, one 10 KB message each (mxload), '
	    . 'the same RSA-2048 certificate for everyone' },
	{ id => 'd-ec', kind => 'mxload', s => 20, m => scaled(500),
	  l => 10240, tls => 1, cert => 'ec',
	  desc => 'as d, with the same EC P-256 certificate for everyone' },
	{ id => 'hs', kind => 'mxload', s => 20, m => scaled(1000),
	  l => 1024, tls => 1, cert => 'ec',
	  desc => 'TLS handshakes: a new session per connection, one 1 KB '
	    . 'message each, the EC certificate (messages/s = handshakes/s)' },
	{ id => 'hs-r', kind => 'mxload', s => 20, m => scaled(1000),
	  l => 1024, tls => 1, cert => 'ec', resume => 1,
	  desc => 'as hs, each client offering its previous session '
	    . '(resumption)' },
);
my @ONCE = (
	{ id => 'idle', kind => 'idle', n => $C{idle},
	  desc => "$C{idle} idle sessions held open (banner + EHLO)" },
	{ id => 'e', kind => 'queue', s => 20, m => scaled(1000), l => 10240,
	  desc => 'customer down: accept into the queue, then drain' },
	# the outage queue's cost curve (mxgate only): the same as e at three
	# sizes, with what a big queue costs besides time
	(map { my ($n, $tag) = @$_; { id => "q$tag", kind => 'queue',
	    curve => 1, s => 20, m => scaled($n), l => 10240,
	    drain_max => 120 + int(scaled($n) / 200),
	    desc => "the outage queue at $tag messages: ingest, drain, the "
		. 'queue owner\'s and runner\'s RSS, queue list time, '
		. 'data.mdb on disk' } } [1000, '1k'], [10000, '10k'],
	    [100000, '100k']),
	# sessions held, and the mailbox list, at two sizes (mxgate only)
	(map { my ($n, $tag) = @$_; { id => "s$tag", kind => 'held', curve => 1,
	    n => scaled($n),
	    desc => "$tag sessions held open (banner + EHLO) while 200 "
		. 'messages of 10 KB are timed over one more session: memory '
		. 'per session, latency alone and beside them' } }
	    [1000, '1k'], [10000, '10k']),
	(map { my ($n, $tag) = @$_; { id => "mb$tag", kind => 'mailboxes',
	    curve => 1, n => scaled($n),
	    desc => "a mailbox list of $tag entries: start to SMTP-ready, "
		. 'memory, latency with a listed recipient, and a reload '
		. '(SIGHUP) with 100 sessions held: its time, and how many '
		. 'sessions live through it' } }
	    [10000, '10k'], [1000000, '1m']),
	{ id => 'gate', kind => 'gate', curve => 1, n => scaled(100000),
	  desc => 'the admission table (relay/gate.c, the daemon\'s 16,384 '
	    . 'slots) under distinct addresses from 127/8, each admitted and '
	    . 'released once, with 100 clients kept connected and 10 blocked '
	    . 'meanwhile: cost per admission, and whether eviction spared them' },
	{ id => 'boot', kind => 'boot',
	  desc => 'the appliance image (make image) under QEMU: first boot '
	    . 'and a normal boot to SMTP-ready, BIOS and UEFI, stage by stage' },
);
my %ONLY = map { $_ => 1 } split /[ ,]+/, $C{only};
# the cost curve and the boot run only when named (BENCH_WORKLOADS): they
# take minutes and an image
my %OPTIN = map { $_ => 1 } qw(q1k q10k q100k s1k s10k mb10k mb1m gate
    boot);
sub wanted { $OPTIN{$_[0]} ? $ONLY{$_[0]} : (!%ONLY || $ONLY{$_[0]}) }

# ---------------------------------------------------------------- processes
my %KIDS;	# pid => name, every process group we started
my @STOPS;	# code refs run by cleanup (Postfix stop etc.)

sub spawn {
	my ($name, $argv, %o) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		setsid();
		open(STDIN, '<', $o{stdin} // '/dev/null');
		open(STDOUT, '>>', $o{stdout} // '/dev/null') unless $o{keep_stdout};
		open(STDERR, '>>', $o{stderr} // $o{stdout} // '/dev/null');
		{ no warnings q(exec); exec { $argv->[0] } @$argv; }
		print STDERR "exec $argv->[0]: $!\n";
		_exit(127);
	}
	$KIDS{$pid} = $name;
	return $pid;
}

# spawn with stdout (and optionally stdin) as pipes we hold
sub spawn_piped {
	my ($name, $argv, %o) = @_;
	pipe(my $r, my $w) or die "pipe: $!";
	my ($in_r, $in_w);
	pipe($in_r, $in_w) or die "pipe: $!" if $o{stdin_pipe};
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		setsid();
		close $r;
		if ($o{stdin_pipe}) { close $in_w; open(STDIN, '<&', $in_r) }
		else { open(STDIN, '<', '/dev/null') }
		open(STDOUT, '>&', $w);
		open(STDERR, '>>', $o{stderr} // '/dev/null');
		{ no warnings q(exec); exec { $argv->[0] } @$argv; }
		_exit(127);
	}
	close $w;
	close $in_r if $o{stdin_pipe};
	my $fl = fcntl($r, F_GETFL, 0);
	fcntl($r, F_SETFL, $fl | O_NONBLOCK);
	$KIDS{$pid} = $name;
	return ($pid, $r, $in_w);
}

sub alive { my $p = shift; $p && kill(0, $p) && !reaped($p) }
my %STATUS;	# pid => wait status once reaped
sub reaped {
	my $p = shift;
	return 1 if exists $STATUS{$p};
	my $r = waitpid($p, WNOHANG);
	if ($r == $p) { $STATUS{$p} = $?; delete $KIDS{$p}; return 1 }
	return $r < 0;
}

# TERM the process group, wait up to $grace s, then KILL it
sub stop_group {
	my ($pid, $grace) = @_;
	return unless $pid;
	# never signal a pid we already reaped: with pid_max 32768 and a busy
	# machine it may belong to somebody else by now
	return if exists $STATUS{$pid} && !kill(0, -$pid);
	kill('TERM', -$pid) or exists $STATUS{$pid} or kill('TERM', $pid);
	my $until = time + ($grace // 10);
	while (time < $until) {
		last if reaped($pid) && !kill(0, -$pid);
		sleep 0.05;
	}
	if (kill(0, -$pid)) { kill('KILL', -$pid); sleep 0.1 }
	reaped($pid);
	delete $KIDS{$pid};
}

sub cleanup {
	$_->() for reverse @STOPS;
	@STOPS = ();
	stop_group($_, 3) for keys %KIDS;
	remove_tree($SHM) if -d $SHM;
}
my $CLEANED;
END { cleanup() unless $CLEANED++ }
for my $sig (qw(INT TERM HUP ALRM)) {
	$SIG{$sig} = sub { say_("caught SIG$sig, stopping everything");
		cleanup(); $CLEANED = 1; exit 1 };
}
alarm($C{budget} + 60);	# hard stop even if a wait loop misbehaves

# ---------------------------------------------------------------- /proc
sub proc_stat {
	my $pid = shift;
	open(my $f, '<', "/proc/$pid/stat") or return;
	my $s = <$f> // return;
	my $i = rindex($s, ')');
	my @f = split ' ', substr($s, $i + 2);
	# after "pid (comm)": state ppid ... utime(11) stime cutime cstime
	return { ppid => $f[1], cpu => $f[11] + $f[12] + $f[13] + $f[14] };
}

# every live pid in the trees under @roots
sub tree {
	my @roots = grep { $_ } @_;
	return () unless @roots;
	my %kids;
	opendir(my $d, '/proc') or return @roots;
	for my $p (grep { /^\d+$/ } readdir $d) {
		my $st = proc_stat($p) or next;
		push @{$kids{$st->{ppid}}}, $p;
	}
	my (@out, %seen);
	my @q = grep { -e "/proc/$_" } @roots;
	while (defined(my $p = shift @q)) {
		next if $seen{$p}++;
		push @out, $p;
		push @q, @{$kids{$p} // []};
	}
	return @out;
}

sub status_kb {
	my ($pid, $key) = @_;
	open(my $f, '<', "/proc/$pid/status") or return 0;
	while (<$f>) { return $1 if /^\Q$key\E:\s+(\d+)/ }
	return 0;
}
sub pss_kb {
	my $pid = shift;
	open(my $f, '<', "/proc/$pid/smaps_rollup") or return 0;
	while (<$f>) { return $1 if /^Pss:\s+(\d+)/ }
	return 0;
}
# sum of VmRSS (and Pss when asked) over the tree, KB
sub mem_sample {
	my ($roots, $with_pss) = @_;
	my ($rss, $pss, $n) = (0, 0, 0);
	for my $p (tree(@$roots)) {
		$rss += status_kb($p, 'VmRSS');
		$pss += pss_kb($p) if $with_pss;
		$n++;
	}
	return ($rss, $pss, $n);
}
# CPU seconds of the tree: utime+stime of each live process plus the
# cutime+cstime its reaped children left in it
sub cpu_sample {
	my $t = 0;
	for my $p (tree(@{$_[0]})) {
		my $st = proc_stat($p) or next;
		$t += $st->{cpu};
	}
	return $t / $HZ;
}

# the kernel's count of SYNs dropped because an accept queue was full
# (system-wide: other programs' drops land here too)
sub listen_drops {
	open(my $f, '<', '/proc/net/netstat') or return 0;
	my @l = <$f>;
	for my $i (0 .. $#l - 1) {
		next unless $l[$i] =~ /^TcpExt:/ && $l[$i + 1] =~ /^TcpExt:/;
		my @k = split ' ', $l[$i];
		my @v = split ' ', $l[$i + 1];
		for my $j (0 .. $#k) { return $v[$j] if $k[$j] eq 'ListenDrops' }
	}
	return 0;
}

sub port_free {
	my $port = shift;
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => $port, Proto => 'tcp', ReuseAddr => 1, Listen => 1);
	return 0 unless $s;
	close $s;
	return 1;
}

# connects and reads a 220 banner; 1 when it came before $timeout
sub smtp_ready {
	my ($port, $timeout) = @_;
	my $until = time + $timeout;
	while (time < $until) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		    PeerPort => $port, Proto => 'tcp', Timeout => 2);
		if ($s) {
			$s->timeout(5);
			my $l = <$s> // '';
			print $s "QUIT\r\n";
			close $s;
			return 1 if $l =~ /^220/;
		}
		sleep 0.2;
	}
	return 0;
}

# EHLO keywords of the server on $port
sub ehlo_keywords {
	my $port = shift;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'tcp', Timeout => 3) or return '';
	$s->timeout(5);
	my $l = <$s> // '';
	print $s "EHLO probe.source.test\r\n";
	my $kw = '';
	while (defined($l = <$s>)) {
		$kw .= " " . uc(substr($l, 4)) =~ s/\s+$//r;
		last if $l =~ /^\d{3} /;
	}
	print $s "QUIT\r\n";
	close $s;
	return $kw;
}

# ---------------------------------------------------------------- the sink
# smtp-sink with -c: stdout carries "sess=N quit=N mesg=N\r" counters
sub sink_start {
	my (%o) = @_;
	my @argv = ($C{sink}, '-c', '-u', 'nobody', '-m', '2000');
	push @argv, '-d', "$o{dump}/m." if $o{dump};
	push @argv, "127.0.0.1:$PORT{sink}", '1024';
	for my $try (1 .. 5) {
		my ($pid, $fh) = spawn_piped('smtp-sink', \@argv,
		    stderr => "$RUN/sink.log");
		my $sink = { pid => $pid, fh => $fh, buf => '', mesg => 0 };
		# the probe is a session for the sink, not a message
		return $sink if smtp_ready($PORT{sink}, 5);
		stop_group($pid, 2);
		sleep 1;
	}
	die "smtp-sink did not start on 127.0.0.1:$PORT{sink} "
	    . "(see $RUN/sink.log)\n";
}
sub sink_poll {
	my $k = shift;
	while (1) {
		my $n = sysread($k->{fh}, my $b, 65536);
		last unless $n;
		$k->{buf} .= $b;
	}
	if ($k->{buf} =~ /.*mesg=(\d+)/s) { $k->{mesg} = $1 }
	$k->{buf} = substr($k->{buf}, -200) if length($k->{buf}) > 4096;
	return $k->{mesg};
}
sub sink_stop { my $k = shift; stop_group($k->{pid}, 3) if $k }

# ---------------------------------------------------------------- systems
# Each: setup (once), start (returns { roots => [pids], ... }), stop.
my %SYS;

sub write_file {
	my ($path, $text) = @_;
	open(my $f, '>', $path) or die "$path: $!";
	print $f $text;
	close $f or die "$path: $!";
}

# Two certificate pairs, RSA-2048 and EC P-256; cert.pem and key.pem, which
# every system is configured with, are links to the pair a workload asks
# for (use_cert), set before each system starts.
sub cert_setup {
	make_path("$RUN/tls");
	for my $kind (qw(rsa ec)) {
		next if -f "$RUN/tls/cert-$kind.pem";
		my $new = $kind eq 'rsa' ? '-newkey rsa:2048'
		    : '-newkey ec -pkeyopt ec_paramgen_curve:P-256';
		system("openssl req -x509 $new -nodes -days 30 "
		    . "-subj /CN=mx.bench.test -keyout $RUN/tls/key-$kind.pem "
		    . "-out $RUN/tls/cert-$kind.pem >$RUN/tls/openssl.log 2>&1") == 0
		    or die "cannot make a test certificate (see $RUN/tls/openssl.log)\n";
		chmod 0644, "$RUN/tls/cert-$kind.pem";
		chmod 0640, "$RUN/tls/key-$kind.pem";
	}
	use_cert('rsa');
}
sub use_cert {
	my ($kind) = @_;
	for my $f (qw(cert key)) {
		unlink "$RUN/tls/$f.pem";
		symlink("$f-$kind.pem", "$RUN/tls/$f.pem")
		    or die "$RUN/tls/$f.pem: $!\n";
	}
}

# --- mxgate: its own config; in-session relay, nothing on disk
$SYS{mxgate} = {
	setup => sub {
		return "not built: $C{mxgate_why}" if $C{mxgate_why} ne '';
		return "no binary at $C{mxgate}" unless -x $C{mxgate};
		my $d = "$RUN/mxgate";
		make_path("$d/queue");
		my $base = "# mxgate under `make bench` (bench/bench.pl)\n"
		    . "hostname mx.bench.test\n"
		    . "listen 127.0.0.1:$PORT{mxgate}\n"
		    . "route bench.test 127.0.0.1:$PORT{sink} tls none\n"
		    . "max_sessions 2000\n"
		    . "# the load generator is allowlisted: no pregreet wait,\n"
		    . "# no per-IP limits (Postfix: mynetworks; OpenSMTPD has none)\n"
		    . "allow 127.0.0.0/8\n";
		my @extra = ("queue $d/queue\n",
		    "tls_cert $RUN/tls/cert.pem\ntls_key $RUN/tls/key.pem\n");
		# keep the optional lines this build accepts
		my $conf = $base;
		for my $x (@extra) {
			write_file("$d/try.conf", $conf . $x);
			$conf .= $x if system("$C{mxgate} -n -f $d/try.conf "
			    . ">/dev/null 2>&1") == 0;
		}
		write_file("$d/mxgate.conf", $conf);
		my $err = `$C{mxgate} -n -f $d/mxgate.conf 2>&1`;
		return "configuration refused: " . (split /\n/, $err)[0]
		    if $? != 0;
		return '';
	},
	start => sub {
		my $d = "$RUN/mxgate";
		# a fresh queue each run, like the peers' spools
		remove_tree("$d/queue");
		make_path("$d/queue");
		my $pid = spawn('mxgate', ['/bin/sh', '-c',
		    'ulimit -n 65536 2>/dev/null; exec "$0" -f "$1"',
		    $C{mxgate}, "$d/mxgate.conf"], stdout => "$d/mxgate.log");
		return { roots => [$pid], pid => $pid,
		    log => "$d/mxgate.log" };
	},
	stop => sub { stop_group($_[0]{pid}, 15) },
	flush => sub {
		(my $ctl = $C{mxgate}) =~ s/mxgate$/mxgatectl/;
		system("$ctl -f $RUN/mxgate/mxgate.conf queue flush "
		    . ">>$RUN/mxgate/flush.log 2>&1") if -x $ctl;
	},
	durability => 'in-session: the 250 is the customer\'s own 250; '
	    . 'nothing written locally (queue only when the customer is down)',
};

# --- Postfix: private config directory, own queue, master in the
# foreground (master -d) so its pid is ours; no chroot; logs via postlogd
$SYS{postfix} = {
	setup => sub {
		return 'postfix not installed' unless -x $C{pf_master};
		my $d = "$RUN/postfix";
		make_path("$d/conf", "$d/queue", "$d/data");
		system('chown', 'postfix', "$d/data");
		my $sink = $PORT{sink};
		write_file("$d/conf/main.cf", <<"EOF");
# Postfix as a pass-through relay for bench.test (bench/bench.pl)
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/maillog
maillog_file_prefixes = $RUN
myhostname = mx-postfix.bench.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# the load generator's network: exempt from anvil limits, not a relay right
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery
alias_maps =
alias_database =
relay_domains = bench.test
transport_maps = inline:{ bench.test=relay:[127.0.0.1]:$sink }
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
# no reverse DNS, no DNS at all (the next hop is a literal address)
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
# concurrency raised to match one outbound session per inbound one
relay_destination_concurrency_limit = 100
default_process_limit = 200
smtp_connection_cache_on_demand = yes
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
smtp_tls_security_level = none
smtpd_tls_security_level = may
smtpd_tls_cert_file = $RUN/tls/cert.pem
smtpd_tls_key_file = $RUN/tls/key.pem
EOF
		# Debian's master.cf, chroot off, only what a relay needs;
		# smtpd may run 1100 processes (the idle-session test)
		write_file("$d/conf/master.cf", <<"EOF");
127.0.0.1:$PORT{postfix} inet n - n - 1100 smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
		# creates the queue directories with Postfix's own modes
		system("postfix -c $d/conf check >>$d/setup.log 2>&1");
		return "postfix check failed (see $d/setup.log and $d/maillog)"
		    if $? != 0;
		return '';
	},
	start => sub {
		my $d = "$RUN/postfix";
		# nothing left over from an earlier run
		system("postsuper -c $d/conf -d ALL >/dev/null 2>&1");
		unlink "$d/queue/pid/master.pid";
		my $pid = spawn('postfix', ['/bin/sh', '-c',
		    'ulimit -n 65536 2>/dev/null; exec "$0" -d -c "$1"',
		    $C{pf_master}, "$d/conf"], stdout => "$d/master.out");
		return { roots => [$pid], pid => $pid, log => "$d/maillog" };
	},
	stop => sub { stop_group($_[0]{pid}, 15) },
	durability => 'queue file fsync\'d by cleanup before the 250 '
	    . '(Postfix default, not configurable)',
	flush => sub { system("postqueue -c $RUN/postfix/conf -f "
	    . ">/dev/null 2>&1") },
};

# --- OpenSMTPD 6.8 from the Debian .deb unpacked beside Postfix; its
# spool, socket and chroot paths are compiled in, so it runs in a private
# mount namespace with our directories bound over /var/spool, /run and
# /var/lib, and a resolv.conf that answers from /etc/hosts (see docs)
$SYS{opensmtpd} = {
	note => sub { $C{os_backlog} && -f $C{backlog_so}
	    ? "listen backlog raised from its compiled-in 5 to $C{os_backlog} "
	    . "(LD_PRELOAD bench/backlog.c; BENCH_OPENSMTPD_BACKLOG=0 for "
	    . "the binary as shipped)" : 'listen backlog 5 as shipped: bursts '
	    . 'of connections lose SYNs and wait for 1 s, 3 s, 7 s retries' },
	setup => sub {
		my $smtpd = "$C{osmtpd}/usr/sbin/smtpd";
		return "not unpacked at $C{osmtpd}" unless -x $smtpd;
		for my $u (qw(opensmtpd opensmtpq)) {
			next if getpwnam($u);
			# the Debian package's users (its postinst makes them)
			system("getent group $u >/dev/null || groupadd --system $u");
			system('useradd', '--system', '--no-create-home',
			    '--home-dir', '/var/lib/opensmtpd/empty',
			    '--shell', '/usr/sbin/nologin', '-g', $u, $u) == 0
			    or return "cannot create user $u";
		}
		# smtpctl refuses to run unless setgid opensmtpq (our own copy)
		my $ctl = "$C{osmtpd}/usr/sbin/smtpctl";
		system("chgrp opensmtpq $ctl && chmod 2555 $ctl");
		my $d = "$RUN/opensmtpd";
		make_path("$d/spool", "$d/run", "$d/varlib/opensmtpd/empty");
		write_file("$d/resolv.conf",
		    "# libasr: /etc/hosts only, never wait for a resolver\n"
		    . "lookup file\nnameserver 127.0.0.1\n");
		my $sink = $PORT{sink};
		write_file("$d/smtpd.conf", <<"EOF");
# OpenSMTPD 6.8 as a pass-through relay for bench.test (bench/bench.pl)
# smtp-source keeps a session for hundreds of messages (default 100)
smtp limit max-mails 100000
# the stall fix (docs/BENCHMARKS.md): the MTA's defaults open a new
# connection to a route at most every 5 s, close it after 100 messages
# and hold envelopes beyond 50 in flight per relay, which with 40 ms per
# message (Nagle + delayed ACK) capped delivery near 20 msg/s
mta limit max-conn-per-host 100 max-conn-per-route 100 max-conn-per-relay 100 max-conn-per-connector 100 max-conn-per-domain 100 max-conn-per-source 100
mta limit conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0 session-mail-max 100000 task-hiwat 2000 task-lowat 1500 task-release 500
# no "tls pki" on the listener: 6.8.0p2's STARTTLS fails with Debian 12's
# OpenSSL 3 ("EVP lib"; upstream issues 1171, 1239), so it is not offered
listen on 127.0.0.1 port $PORT{opensmtpd} hostname mx-opensmtpd.bench.test
action "relay" relay host smtp://127.0.0.1:$sink helo mx-opensmtpd.bench.test
match from any for domain "bench.test" action "relay"
EOF
		my $err = `$smtpd -n -f $d/smtpd.conf 2>&1`;
		return "configuration refused: " . (split /\n/, $err)[0]
		    if $? != 0;
		system('unshare', '-m', 'true') == 0
		    or return 'unshare -m does not work here (needs root)';
		return '';
	},
	start => sub {
		my $d = "$RUN/opensmtpd";
		remove_tree("$d/spool", "$d/run");
		make_path("$d/spool", "$d/run");
		my $smtpd = "$C{osmtpd}/usr/sbin/smtpd";
		my $pre = $C{os_backlog} && -f $C{backlog_so}
		    ? "LD_PRELOAD=$C{backlog_so} "
		    . "BENCH_LISTEN_BACKLOG=$C{os_backlog} " : '';
		my $sh = 'ulimit -n 65536 2>/dev/null; '
		    . "mount --bind $d/spool /var/spool && "
		    . "mount --bind $d/run /run && "
		    . "mount --bind $d/varlib /var/lib && "
		    . "mount --bind $d/resolv.conf /etc/resolv.conf && "
		    . "exec env $pre$smtpd -d -f $d/smtpd.conf";
		my $pid = spawn('opensmtpd', ['unshare', '-m',
		    '--propagation', 'private', '/bin/sh', '-c', $sh],
		    stdout => "$d/smtpd.log");
		return { roots => [$pid], pid => $pid, log => "$d/smtpd.log" };
	},
	stop => sub { stop_group($_[0]{pid}, 15) },
	no_tls => 'its STARTTLS fails with Debian 12\'s OpenSSL 3 '
	    . '("EVP lib", upstream issues 1171 and 1239): not offered',
	durability => 'message and envelope written and renamed, no fsync '
	    . '(OpenSMTPD queue_fs default, not configurable)',
	flush => sub {
		my $h = shift;
		system("nsenter -t $h->{pid} -m $C{osmtpd}/usr/sbin/smtpctl "
		    . "schedule all >/dev/null 2>&1");
	},
};

# --- the ceiling: the load generator straight into smtp-sink
$SYS{direct} = {
	setup => sub { '' },
	start => sub { { roots => [] } },
	stop => sub { },
	durability => 'none (no relay)',
};

sub target_port { $_[0] eq 'direct' ? $PORT{sink} : $PORT{$_[0]} }

# start a system and wait for its banner; undef + reason on failure
sub sys_start {
	my $s = shift;
	my $h = $SYS{$s}{start}->();
	return ($h, '') if $s eq 'direct';
	if (!smtp_ready(target_port($s), 20)) {
		my $why = "no SMTP banner on port " . target_port($s)
		    . " within 20 s";
		if (open(my $f, '<', $h->{log})) {
			my @l = <$f>;
			$why .= ": " . ($l[-1] // '') =~ s/\s+$//r if @l;
		}
		$SYS{$s}{stop}->($h);
		return (undef, $why);
	}
	push @STOPS, my $st = sub { $SYS{$s}{stop}->($h) };
	$h->{stopper} = $st;
	return ($h, '');
}
sub sys_stop {
	my ($s, $h) = @_;
	return unless $h;
	$SYS{$s}{stop}->($h);
	@STOPS = grep { $_ != $h->{stopper} } @STOPS if $h->{stopper};
}

# ---------------------------------------------------------------- runs
sub record {
	my ($r, $w, $s, %m) = @_;
	while (my ($k, $v) = each %m) {
		push @RESULTS, { round => $r, w => $w, sys => $s,
		    metric => $k, value => $v };
	}
}

sub left { $DEADLINE - time }

# A throughput run: smtp-source (or mxload) into the system; ends when the
# sink holds every message. Samples memory every 0.1 s (Pss every 0.5 s).
sub run_throughput {
	my ($w, $s, $r) = @_;
	my $sink = sink_start();
	my ($h, $why) = sys_start($s);
	if (!$h) { sink_stop($sink); return "failed to start: $why" }
	my $roots = $h->{roots};
	my ($rss0) = mem_sample($roots, 0);
	my $cpu0 = cpu_sample($roots);
	my $port = target_port($s);
	my @argv;
	if ($w->{kind} eq 'source') {
		@argv = ($C{source}, '-s', $w->{s}, '-m', $w->{m}, '-l', $w->{l},
		    '-f', 'bench@source.test', '-t', 'user@bench.test',
		    '-M', 'load.source.test', ($w->{reuse} ? '-d' : ()),
		    "127.0.0.1:$port");
	} else {
		@argv = ($C{mxload}, '-s', $w->{s}, '-m', $w->{m}, '-l', $w->{l},
		    '-1', ($w->{tls} ? '-T' : ()), ($w->{resume} ? '-R' : ()),
		    '-t', int($C{run_max}),
		    "127.0.0.1:$port");
	}
	my $drops0 = listen_drops();
	my $t0 = time;
	my $gen = spawn('load', \@argv, stdout => "$RUN/load.log");
	my ($t_acc, $t_all, $peak_rss, $peak_pss, $n) = (0, 0, 0, 0, 0);
	my $limit = $t0 + ($C{run_max} < left() ? $C{run_max} : left());
	my ($last_mem, $last_pss, $last_n, $t_prog) = (0, 0, -1, $t0);
	while (time < $limit) {
		my $now = time;
		if ($now - $last_mem >= 0.2) {	# memory every 0.2 s
			my $pss_now = $now - $last_pss >= 1;
			my ($rss, $pss) = mem_sample($roots, $pss_now);
			$peak_rss = $rss if $rss > $peak_rss;
			if ($pss_now) {
				$peak_pss = $pss if $pss > $peak_pss;
				$last_pss = $now;
			}
			$last_mem = $now;
		}
		# wake on the sink's counter, at most every 20 ms
		my $rin = '';
		vec($rin, fileno($sink->{fh}), 1) = 1;
		select($rin, undef, undef, 0.02);
		$n = sink_poll($sink);
		if ($n != $last_n) { $last_n = $n; $t_prog = time }
		if (!$t_acc && reaped($gen)) { $t_acc = time }
		if ($n >= $w->{m}) { $t_all = time; last }
		if (reaped($sink->{pid})) { $sink->{died} = 1; last }
		# the generator is gone and nothing moves any more
		last if $t_acc && time - $t_prog > 30;
	}
	my $cpu1 = cpu_sample($roots);
	# an in-session relay's sender hears 250 after the sink has it
	for (1 .. 100) { last if $t_acc || !$t_all; sleep 0.05;
		$t_acc = time if reaped($gen) }
	my $gen_status = $STATUS{$gen};
	stop_group($gen, 2) unless $t_acc;
	sys_stop($s, $h);
	sink_stop($sink);
	my %m = (sent => $n, syn_drops => listen_drops() - $drops0);
	if ($t_all) {
		$m{msgs_e2e} = $w->{m} / ($t_all - $t0);
		$m{msgs_acc} = $w->{m} / ($t_acc - $t0) if $t_acc;
	}
	if ($s ne 'direct') {
		$m{peak_rss_mb} = $peak_rss / 1024;
		$m{peak_pss_mb} = $peak_pss / 1024 if $peak_pss;
		$m{cpu_per_1000} = ($cpu1 - $cpu0) * 1000 / ($n || 1) if $n;
	}
	if ($w->{tls} && $w->{kind} eq 'mxload' && $t_acc) {
		# mxload's summary: how many handshakes the server resumed
		my ($sent, $res);
		if (open(my $f, '<', "$RUN/load.log")) {	# appended: the last
			while (<$f>) { ($sent, $res) = ($1, $2)
			    if /sent=(\d+) .*resumed=(\d+)/ }
		}
		$m{resumed_pct} = 100 * $res / $sent if $sent;
	}
	record($r, $w->{id}, $s, %m);
	if ($sink->{died}) {
		my $st = $STATUS{$sink->{pid}} // 0;
		return sprintf("smtp-sink died during the run (%s; see "
		    . "$RUN/sink.log)", $st & 127 ? "signal " . ($st & 127)
		    : "exit " . ($st >> 8));
	}
	return sprintf("only %d of %d messages reached the sink%s", $n,
	    $w->{m}, defined $gen_status && $gen_status
	    ? " (load generator exit " . ($gen_status >> 8) . ")" : '')
	    unless $t_all;
	return '';
}

sub pct {
	my ($p, @v) = @_;
	return undef unless @v;
	@v = sort { $a <=> $b } @v;
	my $i = int($p / 100 * $#v + 0.5);
	return $v[$i];
}

# Latency: mxload times each message (MAIL FROM to the 250 after the dot)
# and stamps the moment smtp-sink closes its dump file (inotify).
sub run_latency {
	my ($w, $s, $r) = @_;
	my $dump = "$SHM/dump";
	remove_tree($dump);
	make_path($dump);
	system('chown', 'nobody', $dump);
	my $sink = sink_start(dump => $dump);
	my ($h, $why) = sys_start($s);
	if (!$h) { sink_stop($sink); return "failed to start: $why" }
	my $csv = "$RUN/lat-$s-$r.csv";
	my $wait = int(left() < 60 ? left() : 60);
	$wait = 1 if $wait < 1;
	open(my $saved, '>&', \*STDOUT) or die "dup: $!";
	open(STDOUT, '>>', "$RUN/load.log") or die "$RUN/load.log: $!";
	my $rc = system($C{mxload}, '-s', $w->{s}, '-m', $w->{m},
	    '-l', $w->{l}, '-o', $csv, '-W', $dump, '-w', $wait,
	    '-t', int($C{run_max}), '127.0.0.1:' . target_port($s));
	open(STDOUT, '>&', $saved) or die "dup: $!";
	sys_stop($s, $h);
	sink_stop($sink);
	remove_tree($dump);
	my (@acc, @e2e, $lost);
	open(my $f, '<', $csv) or return "no latency data";
	while (<$f>) {
		my ($id, $tm, $ta, $ts) = split /,/;
		next unless $ta;
		push @acc, ($ta - $tm) / 1e6;
		if ($ts > 0) { push @e2e, ($ts - $tm) / 1e6 } else { $lost++ }
	}
	record($r, $w->{id}, $s,
	    acc_p50_ms => pct(50, @acc), acc_p99_ms => pct(99, @acc),
	    e2e_p50_ms => pct(50, @e2e), e2e_p99_ms => pct(99, @e2e))
	    if @acc && @e2e;
	return "mxload failed for " . ($w->{m} - @acc) . " messages"
	    . ($lost ? ", $lost never reached the sink" : '') if $rc || $lost;
	return '';
}

# Latency to the 250 of 200 messages of 10 KB over one session (mxload):
# (p50, p99) in ms, or () when mxload failed.
sub probe_latency {
	my ($port, $tag) = @_;
	my $csv = "$RUN/probe-$tag.csv";
	open(my $saved, '>&', \*STDOUT) or die "dup: $!";
	open(STDOUT, '>>', "$RUN/load.log") or die "$RUN/load.log: $!";
	my $rc = system($C{mxload}, '-s', 1, '-m', 200, '-l', 10240,
	    '-o', $csv, '-t', 60, "127.0.0.1:$port");
	open(STDOUT, '>&', $saved) or die "dup: $!";
	open(my $f, '<', $csv) or return ();
	my @acc;
	while (<$f>) {
		my (undef, $tm, $ta) = split /,/;
		push @acc, ($ta - $tm) / 1e6 if $ta;
	}
	return () if $rc || @acc < 200;
	return (pct(50, @acc), pct(99, @acc));
}

# mxload -I: opens n sessions and holds them; (pid, stdout, stdin, ready)
sub hold_sessions {
	my ($port, $n, $tag) = @_;
	my ($pid, $out, $in) = spawn_piped("mxload-$tag", [$C{mxload},
	    '-I', $n, '-t', 600, "127.0.0.1:$port"],
	    stdin_pipe => 1, stderr => "$RUN/idle.log");
	my ($ready, $buf) = (undef, '');
	my $until = time + (left() < 200 ? left() : 200);
	while (time < $until && !defined $ready) {
		my $got = sysread($out, my $b, 4096);
		$buf .= $b if $got;
		$ready = $1 if $buf =~ /ready (\d+)/;
		last if !defined $ready && reaped($pid);
		sleep 0.1;
	}
	return ($pid, $out, $in, $ready // 0);
}

# Ends hold_sessions: how many sessions were still open (answered QUIT).
sub release_sessions {
	my ($pid, $out, $in) = @_;
	close $in;
	my ($buf, $until) = ('', time + 60);
	while (time < $until && $buf !~ /quit (\d+)/) {
		my $got = sysread($out, my $b, 4096);
		$buf .= $b if $got;
		last if reaped($pid) && !$got;
		sleep 0.05;
	}
	stop_group($pid, 5);
	return $buf =~ /quit (\d+)/ ? $1 : undef;
}

# Idle sessions: hold N sessions open (banner read, EHLO answered) and
# compare the system's memory with it idle before.
sub run_idle {
	my ($w, $s) = @_;
	my ($h, $why) = sys_start($s);
	return "failed to start: $why" unless $h;
	sleep 1;
	my ($rss0, $pss0, $n0) = mem_sample($h->{roots}, 1);
	my ($pid, $out, $in, $ready) = hold_sessions(target_port($s), $w->{n},
	    'idle');
	my ($rss1, $pss1, $n1) = (0, 0, 0);
	if ($ready) {
		sleep 2;	# let the system settle (Postfix forks per session)
		($rss1, $pss1, $n1) = mem_sample($h->{roots}, 1);
	}
	release_sessions($pid, $out, $in);
	sys_stop($s, $h);
	return "no session opened" unless $ready;
	record(0, $w->{id}, $s,
	    idle_sessions => $ready,
	    idle_rss_kb => ($rss1 - $rss0) / $ready,
	    idle_pss_kb => ($pss1 - $pss0) / $ready,
	    idle_procs => $n1);
	return $ready < $w->{n} ? "only $ready of $w->{n} sessions opened" : '';
}

# Sessions held: the latency of a new message alone, then beside n idle
# sessions, and the memory those sessions take.
sub run_held {
	my ($w, $s) = @_;
	my $sink = sink_start();
	my ($h, $why) = sys_start($s);
	if (!$h) { sink_stop($sink); return "failed to start: $why" }
	my $port = target_port($s);
	sleep 1;
	my @alone = probe_latency($port, "$w->{id}-alone");
	my ($rss0) = mem_sample($h->{roots}, 0);
	my ($pid, $out, $in, $ready) = hold_sessions($port, $w->{n}, $w->{id});
	my ($rss1, @beside) = (0);
	if ($ready) {
		sleep 2;
		($rss1) = mem_sample($h->{roots}, 0);
		@beside = probe_latency($port, "$w->{id}-beside");
	}
	my $kept = release_sessions($pid, $out, $in);
	sys_stop($s, $h);
	sink_stop($sink);
	return "no session opened" unless $ready;
	my %m = (held => $ready, held_rss_kb => ($rss1 - $rss0) / $ready);
	@m{qw(alone_p50_ms alone_p99_ms)} = @alone if @alone;
	@m{qw(beside_p50_ms beside_p99_ms)} = @beside if @beside;
	record(0, $w->{id}, $s, %m);
	return "only $ready of $w->{n} sessions opened" if $ready < $w->{n};
	return "a latency probe failed" unless @alone && @beside;
	return "only $kept of $ready held sessions answered QUIT"
	    unless ($kept // 0) == $ready;
	return '';
}

# The admission table under n distinct addresses (bench/gatebench.c).
sub run_gate {
	my ($w, $s) = @_;
	return "no gatebench ($C{gatebench})" unless -x $C{gatebench};
	my $out = `$C{gatebench} -n $w->{n} 2>&1`;
	my $rc = $? >> 8;
	my %v = $out =~ /(\w+)=([\d.]+)/g;
	return "gatebench: " . ($out =~ s/\s+$//r) unless defined $v{admits};
	my ($kept) = $out =~ /kept=(\d+)\//;
	my ($blocked) = $out =~ /blocked=(\d+)\//;
	record(0, $w->{id}, $s, gate_ns => $v{ns_per_admit},
	    gate_evictions => $v{evictions}, gate_used => $v{used},
	    gate_kept => $kept, gate_blocked => $blocked);
	return $rc ? "eviction broke a rule: $out" =~ s/\s+$//r : '';
}

# A mailbox list of n entries: the relay's start, memory and latency with
# it, then a reload (SIGHUP) while 100 sessions are held.
sub run_mailboxes {
	my ($w, $s) = @_;
	my $d = "$RUN/mxgate";
	my $list = "$d/mailboxes";
	open(my $f, '>', $list) or return "$list: $!";
	print $f "# make bench: $w->{n} entries\nuser\@bench.test\n";
	printf $f "user%07d\@bench.test\n", $_ for 1 .. $w->{n} - 1;
	close $f or return "$list: $!";
	my $conf = do { local $/; open(my $c, '<', "$d/mxgate.conf")
	    or return "$d/mxgate.conf: $!"; <$c> };
	write_file("$d/mxgate.conf", $conf . "mailboxes $list\n");
	my $sink = sink_start();
	my $t0 = time;
	my ($h, $why) = sys_start($s);
	my $t_ready = time - $t0;
	if (!$h) {
		write_file("$d/mxgate.conf", $conf);
		sink_stop($sink);
		return "failed to start: $why";
	}
	my $port = target_port($s);
	sleep 1;
	my ($rss, $pss) = mem_sample($h->{roots}, 1);
	my @lat = probe_latency($port, $w->{id});
	my ($pid, $out, $in, $ready) = hold_sessions($port, 100, $w->{id});
	# the log is appended to by every run: read only what comes after
	# the signal
	my $from = -s $h->{log} // 0;
	my $reloaded = sub { open(my $g, '<', $h->{log}) or return 0;
	    seek($g, $from, 0); local $/; my $l = <$g> // '';
	    $l =~ /reloaded / };
	my $t_reload;
	my $t1 = time;
	kill 'HUP', $h->{pid};
	while (time - $t1 < 120) {
		if ($reloaded->()) { $t_reload = time - $t1; last }
		sleep 0.02;
	}
	my @after = probe_latency($port, "$w->{id}-reloaded");
	my $kept = release_sessions($pid, $out, $in);
	sys_stop($s, $h);
	sink_stop($sink);
	write_file("$d/mxgate.conf", $conf);
	my %m = (mb_ready_s => $t_ready, mb_rss_mb => $rss / 1024,
	    mb_pss_mb => $pss / 1024);
	@m{qw(mb_p50_ms mb_p99_ms)} = @lat if @lat;
	$m{mb_reload_s} = $t_reload if defined $t_reload;
	$m{mb_kept} = $kept if defined $kept && $ready;
	record(0, $w->{id}, $s, %m);
	return "no reload logged within 120 s" unless defined $t_reload;
	return "a latency probe failed" unless @lat && @after;
	return "only $ready of 100 sessions opened" if $ready < 100;
	return "only " . ($kept // 0) . " of $ready held sessions lived "
	    . "through the reload" unless ($kept // 0) == $ready;
	return '';
}

# Customer down: messages accepted per second with no sink (mxload, 20
# reused sessions, counting the 250s), then the time from the sink's
# return until it has them all; each system is asked to flush its queue
# at once and every 5 s (postqueue -f, smtpctl schedule all, mxgatectl
# queue flush), so nobody waits for a retry timer.
sub run_queue {
	my ($w, $s) = @_;
	my ($h, $why) = sys_start($s);
	return "failed to start: $why" unless $h;
	my $port = target_port($s);
	my $t0 = time;
	# 120 s, or more for a big queue: a 100k intake at ~600 msg/s is ~170 s
	# (past its -t, mxload ends without a count)
	my $tmax = $w->{m} / 300 > 120 ? int($w->{m} / 300) : 120;
	my $out = `$C{mxload} -s $w->{s} -m $w->{m} -l $w->{l} -t $tmax 127.0.0.1:$port 2>&1`;
	my $t_acc = time;
	my ($ok) = $out =~ /sent=(\d+)/;
	$ok //= 0;
	if ($ok == 0) {
		sys_stop($s, $h);
		return $out =~ /time limit reached/ ? "the intake did not end "
		    . "within mxload's limit ($tmax s + 60 s)"
		    : 'accepts nothing while the customer is down (no queue)';
	}
	my %c = $w->{curve} ? queue_costs($h) : ();
	my @pids = $w->{curve} ? queue_pids($h) : ();
	my $sink = sink_start();
	my $t1 = time;
	my ($n, $t_all, $last_flush, $t_first, $n_first) = (0, 0, 0, 0, 0);
	my $cap = $w->{drain_max} // 60;
	my $limit = $t1 + ($cap < left() ? $cap : left());
	while (time < $limit) {
		if ($SYS{$s}{flush} && time - $last_flush >= 5) {
			$SYS{$s}{flush}->($h);
			$last_flush = time;
		}
		$n = sink_poll($sink);
		($t_first, $n_first) = (time, $n) if $n > 0 && !$t_first;
		if (@pids) {	# the owner's and runner's RSS while draining
			my @r = map { $_ ? status_kb($_, 'RssAnon') : undef } @pids;
			$c{drain_owner_rss_kb} = max0($c{drain_owner_rss_kb}, $r[0]);
			$c{drain_runner_rss_kb} = max0($c{drain_runner_rss_kb}, $r[1]);
		}
		if ($n >= $ok) { $t_all = time; last }
		sleep 0.05;
	}
	sys_stop($s, $h);
	sink_stop($sink);
	my %m = (queue_acc => $ok / ($t_acc - $t0), queue_ok => $ok, %c);
	$m{drain_s} = $t_all - $t1 if $t_all;
	# the pace once delivery has begun, without the wait for a retry
	# timer or a scan that the drain time includes
	$m{drain_rate} = ($ok - $n_first) / ($t_all - $t_first)
	    if $t_all && $t_all > $t_first && $ok - $n_first >= 100;
	record(0, $w->{id}, $s, %m);
	my $note = $ok < $w->{m} ? "accepted $ok of $w->{m} (the rest got "
	    . "a temporary error); " : '';
	return $note =~ s/; $//r if $t_all;
	return $note . "only $n of $ok queued messages delivered within "
	    . int($limit - $t1) . " s";
}

# The appliance image booted under QEMU (tests/lib/MxQemu.pm, the image
# tests' own harness; TCG unless KVM works here), BIOS and UEFI, each a
# fresh copy configured through its ESP: the first boot (it makes the data
# partition) and, after a clean power-off, a normal boot, each to the
# console's "ready" line, stage by stage.
sub run_boot {
	my ($w, $s) = @_;
	my $top = $ENV{MXGATE_TOP} // '.';
	local $ENV{MXGATE_OUT} = $ENV{MXGATE_OUT} // "$top/out";
	my $img = "$ENV{MXGATE_OUT}/image/mxgate.img";
	return "n/a: no image at $img (make image)" unless -f $img;
	unshift @INC, "$top/tests/lib";
	require MxQemu;
	my @notes;
	for my $fw (qw(bios uefi)) {
		if ($fw eq 'uefi' && !MxQemu::ovmf_present()) {
			push @notes, 'uefi: n/a: no OVMF (make deps)';
			next;
		}
		my $dir = "$RUN/boot-$fw";
		remove_tree($dir);
		make_path($dir);
		my $disk = MxQemu::image_copy($dir, {
		    'mxgate.conf' => "hostname mx.bench.test\nlisten 0.0.0.0:25\n"
			. "route bench.test 10.0.2.100:25\nqueue /data/queue\n",
		    'ntp.conf' => "server none\n" });
		my %stage;
		for my $which (qw(first normal)) {
			my $vm = MxQemu->boot(disk => $disk, firmware => $fw,
			    port => MxTest::free_port(),
			    log => "$dir/console-$which.log");
			my @t = $vm->boot_stages(240);
			if (!@t) {
				$vm->kill;
				push @notes, "$fw $which boot: not ready within 240 s "
				    . "(see $dir/console-$which.log)";
				last;
			}
			@{ $stage{$which} }{qw(kernel init services total)} = @t;
			$vm->acpi_powerdown;
			$vm->expect(qr/mxgate: poweroff now/, 120);
			$vm->wait_exit(60);
		}
		record(0, $w->{id}, $s, map { ("${fw}_${_}_s" => $stage{first}{$_}) }
		    grep { defined $stage{first}{$_} } qw(total services init kernel));
		record(0, $w->{id}, $s, map { ("${fw}_normal_${_}_s" => $stage{normal}{$_}) }
		    grep { defined $stage{normal}{$_} } qw(total kernel init services));
	}
	return join('; ', @notes);
}

# What a queue of this size costs mxgate besides time: the queue owner's
# and the runner's anonymous RSS, the time `mxgatectl queue list` takes
# and data.mdb's size on disk.
sub max0 { my ($a, $b) = @_; !defined $a ? $b : !defined $b ? $a : $a > $b ? $a : $b }
# the queue owner's and the runner's pids: the last "ready" lines of the
# log (read once: the log grows over runs)
sub queue_pids {
	my ($h) = @_;
	my $log = '';
	if (open(my $f, '<', $h->{log})) { local $/; $log = <$f> }
	return (($log =~ /qmgr\[(\d+)\]: queue owner ready/g)[-1],
	    ($log =~ /qmgr\[(\d+)\]: runner ready/g)[-1]);
}
sub queue_costs {
	my ($h) = @_;
	my %c;
	my ($owner, $runner) = queue_pids($h);
	# anonymous memory: the store's pages are a file mapped (they show in
	# VmRSS as the page cache holds them, and are not the process's own)
	$c{owner_rss_kb} = status_kb($owner, 'RssAnon') if $owner;
	$c{runner_rss_kb} = status_kb($runner, 'RssAnon') if $runner;
	(my $ctl = $C{mxgate}) =~ s/mxgate$/mxgatectl/;
	my $t = time;
	system("$ctl -f $RUN/mxgate/mxgate.conf -a $RUN/mxgate/audit.log "
	    . "queue list >/dev/null 2>&1");
	$c{list_s} = time - $t if $? == 0;
	my @st = stat("$RUN/mxgate/queue/data.mdb");
	$c{mdb_mb} = $st[12] * 512 / 1048576 if @st;
	return %c;
}

# ---------------------------------------------------------------- setup
sub machine {
	my ($model) = grep { /^model name/ } do {
		open(my $f, '<', '/proc/cpuinfo'); <$f> };
	$model = ($model // 'unknown cpu') =~ s/^model name\s*:\s*//r =~ s/\s+$//r;
	my $ncpu = () = do { open(my $f, '<', '/proc/cpuinfo');
		grep { /^processor/ } <$f> };
	my ($mem) = do { open(my $f, '<', '/proc/meminfo');
		map { /^MemTotal:\s+(\d+)/ ? int($1 / 1024 / 1024 + 0.5) : () } <$f> };
	my $kern = (POSIX::uname())[2];
	my $fs = `df -T $C{out} 2>/dev/null | awk 'NR==2 {print \$2}'`;
	chomp $fs;
	return "$ncpu x $model, ${mem} GB RAM, Linux $kern, spools on $fs";
}
sub loadavg {
	open(my $f, '<', '/proc/loadavg') or return '?';
	return join(' ', (split ' ', scalar <$f>)[0 .. 2]);
}

die "bench: must run as root (Postfix master, mount namespace for "
    . "OpenSMTPD)\n" if $> != 0;
make_path($RUN, $SHM);
for my $k (sort keys %PORT) {
	die "bench: port $PORT{$k} (127.0.0.1) for $k is in use; "
	    . "set BENCH_PORT_BASE\n" unless port_free($PORT{$k});
}
cert_setup();
my $load0 = loadavg();
say_("machine: ", machine());
say_("load average at start: $load0 (other work on this machine skews "
    . "every figure)");
say_("rounds: $C{rounds}, time budget: $C{budget} s, out: $C{out}");

for my $s (@SYSTEMS) {
	my $why = eval { $SYS{$s}{setup}->() } // "setup died: $@";
	$NA{$s} = $why if $why ne '';
}
# mxgate: it must relay one message end to end before it is measured
if (grep { $_ eq 'mxgate' } @SYSTEMS and !$NA{mxgate}) { guarded(sub {
	my $sink = sink_start();
	my ($h, $why) = sys_start('mxgate');
	if (!$h) { $NA{mxgate} = $why }
	else {
		my $out = `$C{mxload} -m 1 -l 1000 -t 20 127.0.0.1:$PORT{mxgate} 2>&1`;
		my $n = 0;
		for (1 .. 30) { $n = sink_poll($sink); last if $n; sleep 0.1 }
		$NA{mxgate} = "probe message not relayed ("
		    . ($out =~ s/\s+$//r) . ")" unless $n >= 1;
		$SYS{mxgate}{tls} = ehlo_keywords($PORT{mxgate}) =~ /STARTTLS/;
		sys_stop('mxgate', $h);
	}
	sink_stop($sink);
	'';
}) }
for my $s (@SYSTEMS) {
	say_(sprintf "%-9s %s", $s, $NA{$s} ? "n/a: $NA{$s}" : 'ready');
}
my @LIVE = grep { !$NA{$_} } @SYSTEMS;

# workload (d) needs STARTTLS in mxgate to mean anything
my %SKIP_W;
for my $id (qw(d d-ec hs hs-r)) {
	$SKIP_W{$id} = 'mxgate does not offer STARTTLS'
	    if !$ONLY{$id} && !($SYS{mxgate}{tls});
}

# ---------------------------------------------------------------- main
# one run; a die inside it stops whatever the run started and becomes
# the run's note
sub guarded {
	my $why = eval { $_[0]->() };
	return $why if defined $why;
	my $err = $@ =~ s/\s+$//r;
	cleanup();
	make_path($SHM);
	return "aborted: $err";
}

# the once-only workloads keep this much of the budget for themselves
# (measured under load: Postfix forks 1,000 smtpd in ~100 s; a drain is
# capped at 60 s)
my $RESERVE = (wanted('idle') ? 130 : 0) + (wanted('e') ? 70 : 0)
    + (wanted('boot') ? 150 : 0) + (wanted('q1k') ? 30 : 0)
    + (wanted('q10k') ? 60 : 0) + (wanted('q100k') ? 300 : 0)
    + (wanted('s1k') ? 20 : 0) + (wanted('s10k') ? 40 : 0)
    + (wanted('mb10k') ? 20 : 0) + (wanted('mb1m') ? 40 : 0)
    + (wanted('gate') ? 10 : 0);
my ($ROUNDS_DONE, $last_round) = (0, 0);
for my $r (1 .. $C{rounds}) {
	# start another round only when one more fits in the budget
	if ($r > 1 && left() - $RESERVE < $last_round) {
		say_("time budget: stopping after $ROUNDS_DONE of $C{rounds} "
		    . "rounds (a round took " . int($last_round) . " s)");
		last;
	}
	my $t_round = time;
	for my $w (@WORKLOADS) {
		next unless wanted($w->{id}) && !$SKIP_W{$w->{id}};
		# rotate the order each round so no system always goes first
		my @order = @LIVE;
		push @order, shift @order for 1 .. (($r - 1) % (@order || 1));
		for my $s (@order) {
			next if $w->{kind} eq 'mxload' && $s eq 'direct'
			    && $w->{tls};
			my $key = "$w->{id}/$s";
			if ($w->{tls} && $SYS{$s}{no_tls}) {
				$NOTE{$key} = "n/a: $SYS{$s}{no_tls}";
				next;
			}
			if (left() - $RESERVE < 20) {
				$NOTE{$key} //= "round $r skipped: time budget";
				next;
			}
			my $t = time;
			use_cert($w->{cert} // 'rsa');
			my $why = guarded(sub { $w->{kind} eq 'latency'
			    ? run_latency($w, $s, $r)
			    : run_throughput($w, $s, $r) });
			# the sink is not under test: one more try if it died
			if ($why =~ /^smtp-sink died/ && left() - $RESERVE > 60) {
				say_("round $r $w->{id} $s: $why; running it again");
				@RESULTS = grep { !($_->{round} == $r
				    && $_->{w} eq $w->{id} && $_->{sys} eq $s) }
				    @RESULTS;
				$why = guarded(sub { $w->{kind} eq 'latency'
				    ? run_latency($w, $s, $r)
				    : run_throughput($w, $s, $r) });
			}
			say_(sprintf "round %d %-5s %-9s %5.1f s %s", $r,
			    $w->{id}, $s, time - $t, $why);
			$NOTE{$key} = "round $r: $why" if $why;
		}
	}
	$last_round = time - $t_round;
	$ROUNDS_DONE = $r;
}
# when the budget cut the rounds short, spend what is left on more rounds
# of the headline workload (a20), so its medians rest on more than one run
my %EXTRA;	# workload => extra rounds run
if ($ROUNDS_DONE < $C{rounds} && wanted('a20')) {
	my ($w) = grep { $_->{id} eq 'a20' } @WORKLOADS;
	my $dur = 0;
	for my $r ($ROUNDS_DONE + 1 .. $C{rounds}) {
		my $t = time;
		$dur ||= $last_round / 3;	# a guess before the first one
		last if left() - $RESERVE < $dur + 20;
		my @order = @LIVE;
		push @order, shift @order for 1 .. (($r - 1) % (@order || 1));
		for my $s (@order) {
			my $why = guarded(sub { run_throughput($w, $s, $r) });
			say_(sprintf "round %d %-5s %-9s (a20 only) %s", $r,
			    'a20', $s, $why);
			$NOTE{"a20/$s"} = "round $r: $why" if $why;
		}
		$dur = time - $t;
		$EXTRA{a20}++;
	}
}
for my $w (@ONCE) {
	next unless wanted($w->{id});
	for my $s (@LIVE) {
		next if $s eq 'direct';
		if ($w->{kind} eq 'boot' && $s ne 'mxgate') {
			$NOTE{"$w->{id}/$s"} = 'n/a: an appliance image is mxgate\'s';
			next;
		}
		if ($w->{curve} && $s ne 'mxgate') {
			$NOTE{"$w->{id}/$s"} = 'n/a: mxgate\'s cost curve';
			next;
		}
		my $key = "$w->{id}/$s";
		if (left() < 30) { $NOTE{$key} = 'skipped: time budget used up';
			next }
		my $t = time;
		my $why = guarded(sub { $w->{kind} eq 'idle' ? run_idle($w, $s)
		    : $w->{kind} eq 'boot' ? run_boot($w, $s)
		    : $w->{kind} eq 'held' ? run_held($w, $s)
		    : $w->{kind} eq 'gate' ? run_gate($w, $s)
		    : $w->{kind} eq 'mailboxes' ? run_mailboxes($w, $s)
		    : run_queue($w, $s) });
		say_(sprintf "once    %-5s %-9s %5.1f s %s", $w->{id}, $s,
		    time - $t, $why);
		$NOTE{$key} = $why if $why;
	}
}
cleanup();
$CLEANED = 1;
my $load1 = loadavg();

# ---------------------------------------------------------------- report
sub median {
	my @v = sort { $a <=> $b } grep { defined } @_;
	return undef unless @v;
	return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}
my %MED;	# "w/metric" => { sys => median }
{
	my %all;
	push @{$all{"$_->{w}/$_->{metric}"}{$_->{sys}}}, $_->{value}
	    for @RESULTS;
	for my $k (keys %all) {
		$MED{$k}{$_} = median(@{$all{$k}{$_}}) for keys %{$all{$k}};
	}
}
# added latency: the system's percentile minus the direct run's
for my $p (qw(e2e_p50_ms e2e_p99_ms acc_p50_ms acc_p99_ms)) {
	my $d = $MED{"lat/$p"}{direct} // next;
	for my $s (keys %{$MED{"lat/$p"}}) {
		next if $s eq 'direct';
		$MED{"lat/added_$p"}{$s} = $MED{"lat/$p"}{$s} - $d;
	}
}

my @ROWS = (
	# [ key, label, unit, decimals ]
	(map { my $w = $_; (
	    ["$w/msgs_e2e", "$w: messages/s end to end", 'msg/s', 0],
	    ["$w/msgs_acc", "$w: messages/s accepted", 'msg/s', 0],
	    ["$w/peak_rss_mb", "$w: peak RSS, all processes", 'MB', 1],
	    ["$w/peak_pss_mb", "$w: peak PSS, all processes", 'MB', 1],
	    ["$w/cpu_per_1000", "$w: CPU per 1,000 messages", 's', 2],
	    ["$w/syn_drops", "$w: SYNs dropped, accept queue full", '', 0],
	) } qw(a20 a100 b c d d-ec)),
	(map { my $w = $_; (
	    ["$w/msgs_e2e", "$w: TLS sessions/s (handshakes/s)", '/s', 0],
	    ["$w/cpu_per_1000", "$w: CPU per 1,000 sessions", 's', 2],
	    ["$w/resumed_pct", "$w: handshakes resumed", '%', 0],
	) } qw(hs hs-r)),
	['lat/added_e2e_p50_ms', 'lat: added latency p50 (to sink)', 'ms', 2],
	['lat/added_e2e_p99_ms', 'lat: added latency p99 (to sink)', 'ms', 2],
	['lat/e2e_p50_ms', 'lat: latency p50 (to sink)', 'ms', 2],
	['lat/e2e_p99_ms', 'lat: latency p99 (to sink)', 'ms', 2],
	['lat/acc_p50_ms', 'lat: latency p50 (to the 250)', 'ms', 2],
	['lat/acc_p99_ms', 'lat: latency p99 (to the 250)', 'ms', 2],
	['idle/idle_rss_kb', 'idle: RSS per idle session', 'KB', 1],
	['idle/idle_pss_kb', 'idle: PSS per idle session', 'KB', 1],
	['idle/idle_procs', 'idle: processes while holding them', '', 0],
	['e/queue_acc', 'e: messages/s into the queue, customer down', 'msg/s', 0],
	['e/drain_s', 'e: drain time after the customer returns', 's', 1],
	['e/drain_rate', 'e: drain msg/s once delivery has begun', 'msg/s', 0],
	(map { my $q = $_; (
	    ["$q/queue_acc", "$q: messages/s into the queue", 'msg/s', 0],
	    ["$q/drain_rate", "$q: drain msg/s", 'msg/s', 0],
	    ["$q/drain_s", "$q: drain time", 's', 1],
	    ["$q/owner_rss_kb", "$q: queue owner anon RSS, full", 'KB', 0],
	    ["$q/drain_owner_rss_kb", "$q: queue owner anon RSS, draining", 'KB', 0],
	    ["$q/drain_runner_rss_kb", "$q: runner anon RSS, draining", 'KB', 0],
	    ["$q/list_s", "$q: mxgatectl queue list", 's', 2],
	    ["$q/mdb_mb", "$q: data.mdb on disk", 'MB', 1],
	) } qw(q1k q10k q100k)),
	(map { my $q = $_; (
	    ["$q/held_rss_kb", "$q: RSS per held session", 'KB', 1],
	    ["$q/alone_p50_ms", "$q: latency p50, nothing held", 'ms', 2],
	    ["$q/beside_p50_ms", "$q: latency p50, beside them", 'ms', 2],
	    ["$q/alone_p99_ms", "$q: latency p99, nothing held", 'ms', 2],
	    ["$q/beside_p99_ms", "$q: latency p99, beside them", 'ms', 2],
	) } qw(s1k s10k)),
	(map { my $q = $_; (
	    ["$q/mb_ready_s", "$q: start to SMTP-ready", 's', 2],
	    ["$q/mb_rss_mb", "$q: RSS, all processes", 'MB', 1],
	    ["$q/mb_pss_mb", "$q: PSS, all processes", 'MB', 1],
	    ["$q/mb_p50_ms", "$q: latency p50, listed recipient", 'ms', 2],
	    ["$q/mb_p99_ms", "$q: latency p99, listed recipient", 'ms', 2],
	    ["$q/mb_reload_s", "$q: reload (SIGHUP) until logged", 's', 2],
	    ["$q/mb_kept", "$q: held sessions alive after it (of 100)", '', 0],
	) } qw(mb10k mb1m)),
	['gate/gate_ns', 'gate: cost per admission', 'ns', 0],
	['gate/gate_evictions', 'gate: idle entries evicted (address and /24 each)', '', 0],
	['gate/gate_used', 'gate: entries in use at the end (of 16,384)', '', 0],
	['gate/gate_kept', 'gate: connected clients still counted (of 100)', '', 0],
	['gate/gate_blocked', 'gate: blocked clients still blocked (of 10)', '', 0],
	(map { my $fw = $_; my $FW = uc $fw; (
	    ["boot/${fw}_total_s", "boot: $FW first boot to SMTP-ready", 's', 1],
	    ["boot/${fw}_normal_total_s", "boot: $FW normal boot to SMTP-ready", 's', 1],
	    ["boot/${fw}_normal_kernel_s", "boot: $FW normal: firmware+kernel", 's', 1],
	    ["boot/${fw}_normal_init_s", "boot: $FW normal: init", 's', 1],
	    ["boot/${fw}_normal_services_s", "boot: $FW normal: services", 's', 1],
	) } qw(bios uefi)),
);
my @SHOWN = @SYSTEMS;
sub fmt {
	my ($v, $dec) = @_;
	return 'n/a' unless defined $v;
	return sprintf("%.${dec}f", $v);
}
sub cell {
	my ($key, $s, $dec) = @_;
	return 'n/a' if $NA{$s};
	return fmt($MED{$key}{$s}, $dec);
}
sub ratio {
	my ($key, $peer) = @_;
	my ($m, $p) = ($MED{$key}{mxgate}, $MED{$key}{$peer});
	return 'n/a' unless defined $m && defined $p && $p != 0;
	return sprintf('%.2f', $m / $p);
}
my @ratio_cols = map { "mx/$_" } grep { $_ ne 'mxgate' } @SYSTEMS;
my @table;	# rows of cells, header first
push @table, ['figure', 'unit', @SHOWN,
    (grep { /mxgate/ } @SYSTEMS) ? @ratio_cols : ()];
for my $row (@ROWS) {
	my ($key, $label, $unit, $dec) = @$row;
	next unless grep { defined } values %{$MED{$key} // {}};
	push @table, [$label, $unit, (map { cell($key, $_, $dec) } @SHOWN),
	    (grep { /mxgate/ } @SYSTEMS)
	    ? (map { ratio($key, $_) } grep { $_ ne 'mxgate' } @SYSTEMS) : ()];
}
my @w;
for my $r (@table) { for my $i (0 .. $#$r) {
	$w[$i] = length $r->[$i] if length $r->[$i] > ($w[$i] // 0) } }
my $date = strftime('%Y-%m-%d %H:%M %Z', localtime);
my $head = "mxgate bench, $date\nmachine: " . machine()
    . "\nload average: $load0 at start, $load1 at end; rounds: $ROUNDS_DONE"
    . ($ROUNDS_DONE < $C{rounds} ? " of $C{rounds} (time budget)" : '')
    . ($EXTRA{a20} ? ", a20: " . ($ROUNDS_DONE + $EXTRA{a20}) : '')
    . " (medians); scale: $C{scale}\n";
my $txt = $head . "\n";
for my $r (@table) {
	$txt .= join('  ', map { $_ == 0 ? sprintf("%-*s", $w[$_], $r->[$_])
	    : sprintf("%*s", $w[$_], $r->[$_]) } 0 .. $#$r) . "\n";
}
my $notes = '';
for my $s (@SYSTEMS) {
	$notes .= "  $s: n/a — $NA{$s}\n" if $NA{$s};
	$notes .= "  $s: " . $SYS{$s}{note}->() . "\n"
	    if !$NA{$s} && $SYS{$s}{note};
}
for my $k (sort keys %SKIP_W) { $notes .= "  workload $k: skipped — $SKIP_W{$k}\n" }
for my $k (sort keys %NOTE) { $notes .= "  $k: $NOTE{$k}\n" }
$txt .= "\nnotes:\n$notes" if $notes;
$txt .= "\ndurability before the 250:\n";
$txt .= sprintf("  %-9s %s\n", $_, $SYS{$_}{durability}) for @SYSTEMS;

# the targets: reported, never asserted
my @tg;
my $chk = sub {
	my ($label, $v, $op, $want) = @_;
	push @tg, sprintf("  %-52s %s", $label, !defined $v ? 'n/a'
	    : sprintf("%.2f (%s)", $v, ($op eq '>=' ? $v >= $want : $v <= $want)
	    ? 'met' : 'NOT met'));
};
my $r_ = sub { my ($k, $p) = @_; my ($m, $q) = ($MED{$k}{mxgate}, $MED{$k}{$p});
	defined $m && defined $q && $q ? $m / $q : undef };
$chk->('a20 msg/s mxgate/postfix >= 3', $r_->('a20/msgs_e2e', 'postfix'), '>=', 3);
$chk->('a20 msg/s mxgate/direct >= 0.5', $r_->('a20/msgs_e2e', 'direct'), '>=', 0.5);
$chk->('idle session RSS <= 64 KB', $MED{'idle/idle_rss_kb'}{mxgate}, '<=', 64);
$chk->('a20 peak RSS mxgate/postfix <= 0.25', $r_->('a20/peak_rss_mb', 'postfix'), '<=', 0.25);
$chk->('d msg/s mxgate/postfix >= 2 (RSA)', $r_->('d/msgs_e2e', 'postfix'), '>=', 2);
$chk->('d-ec msg/s mxgate/postfix >= 2 (EC)', $r_->('d-ec/msgs_e2e', 'postfix'), '>=', 2);
$chk->('hs-r: handshakes resumed >= 90 %', $MED{'hs-r/resumed_pct'}{mxgate}, '>=', 90);
my $flat = sub { my ($k) = @_; my ($a, $b) = ($MED{"q1k/$k"}{mxgate}, $MED{"q100k/$k"}{mxgate});
	defined $a && defined $b && $a ? $b / $a : undef };
$chk->('queue ingest msg/s 100k/1k >= 0.67 (flat)', $flat->('queue_acc'), '>=', 0.67);
$chk->('queue drain msg/s 100k/1k >= 0.67 (flat)', $flat->('drain_rate'), '>=', 0.67);
{
	my ($alone, $beside) = map { $MED{"s10k/$_"}{mxgate} } qw(alone_p99_ms beside_p99_ms);
	$chk->('s10k latency p99 beside/alone <= 1.5 (no step)',
	    defined $alone && defined $beside && $alone ? $beside / $alone : undef, '<=', 1.5);
}
$chk->('mb1m: held sessions alive after the reload >= 100', $MED{'mb1m/mb_kept'}{mxgate}, '>=', 100);
$chk->('gate: connected clients kept >= 100', $MED{'gate/gate_kept'}{mxgate}, '>=', 100);
$chk->('gate: blocked clients kept >= 10', $MED{'gate/gate_blocked'}{mxgate}, '>=', 10);
$chk->('BIOS normal boot to SMTP-ready <= 8 s', $MED{'boot/bios_normal_total_s'}{mxgate}, '<=', 8);
$chk->('UEFI normal boot to SMTP-ready <= 12 s', $MED{'boot/uefi_normal_total_s'}{mxgate}, '<=', 12);
$txt .= "\ntargets (reported only):\n" . join("\n", @tg) . "\n";

print "\n$txt";
write_file("$C{out}/table.txt", $txt);

# CSV: the same table, and every raw measurement
{
	my $csv = join(',', @{$table[0]}) . "\n";
	$csv .= join(',', map { /[,"]/ ? qq("$_") : $_ } @$_) . "\n"
	    for @table[1 .. $#table];
	write_file("$C{out}/summary.csv", $csv);
	my $raw = "round,workload,system,metric,value\n";
	$raw .= join(',', @$_{qw(round w sys metric)}, sprintf('%.6g',
	    $_->{value} // 0)) . "\n" for @RESULTS;
	write_file("$C{out}/raw.csv", $raw);
}

# chart: messages/s end to end per workload, and peak RSS (gnuplot)
{
	my @tw = grep { my $w = $_; grep { defined $MED{"$w/msgs_e2e"}{$_} }
	    @SHOWN } qw(a20 a100 b c d);
	my $dat = "workload " . join(' ', @SHOWN) . "\n";
	for my $w (@tw) {
		$dat .= "$w " . join(' ', map { $NA{$_} ? '-'
		    : fmt($MED{"$w/msgs_e2e"}{$_}, 1) =~ s/n\/a/-/r } @SHOWN) . "\n";
	}
	my $mem = "workload " . join(' ', @SHOWN) . "\n";
	for my $w (@tw) {
		$mem .= "$w " . join(' ', map { $NA{$_} ? '-'
		    : fmt($MED{"$w/peak_rss_mb"}{$_}, 1) =~ s/n\/a/-/r } @SHOWN) . "\n";
	}
	write_file("$C{out}/throughput.dat", $dat);
	write_file("$C{out}/rss.dat", $mem);
	my $n = @SHOWN + 1;
	write_file("$C{out}/chart.gp", <<"EOF");
set terminal pngcairo size 1100,800 font "sans,10"
set output "$C{out}/bench.png"
set multiplot layout 2,1 title "mxgate bench $date (medians of $ROUNDS_DONE rounds)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside right top autotitle columnhead
set datafile missing "-"
set grid ytics
set yrange [0:*]
set ylabel "messages/s, end to end"
set title "throughput until the sink has every message (higher is better)"
plot for [i=2:$n] "$C{out}/throughput.dat" using i:xtic(1)
set ylabel "MB (log scale)"
set logscale y
set yrange [1:*]
set title "peak RSS of all processes of the system under test (lower is better)"
plot for [i=2:$n] "$C{out}/rss.dat" using i:xtic(1)
unset multiplot
EOF
	if (system("command -v gnuplot >/dev/null 2>&1") == 0 && @tw) {
		system("gnuplot $C{out}/chart.gp 2>$C{out}/chart.log") == 0
		    ? say_("chart: $C{out}/bench.png")
		    : say_("gnuplot failed, see $C{out}/chart.log");
	} else {
		say_("no chart: gnuplot missing or no throughput data");
	}
}
say_("table: $C{out}/table.txt, CSV: $C{out}/summary.csv, raw: $C{out}/raw.csv");
say_(sprintf "done in %.0f s", time - $T0);
exit 0;
