# MxSMTP.pm — network helpers for mxgate's integration tests: loopback
# port picking, Postfix's smtp-sink as the customer's server, mxgate
# itself, a raw SMTP client that sends exact bytes and reads whole
# replies, and the runner for dialogue scripts (tests/relay/dialogues).
#
# Every wait is bounded; every process started here is killed at exit,
# even when a test dies. Only 127.0.0.1 is ever used.
package MxSMTP;
use strict;
use warnings;
use Exporter 'import';
use Errno qw(EINTR EAGAIN);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use MxTest;

our @EXPORT = qw(free_port dead_port start_sink start_mxgate smtp_connect
    wait_until sink_strip mx_strip crlf_to_lf dot_unstuff run_timeout
    parse_dialogue run_dialogue dlg_unescape);

our $HOST = '127.0.0.1';
my %children;		# pid => name, everything we started

# --- processes -----------------------------------------------------------

# Starts argv with stdout/stderr to $log (and stdin from /dev/null).
sub spawn {
	my ($name, $log, @argv) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or POSIX::_exit(111);
		open STDERR, '>&', \*STDOUT or POSIX::_exit(111);
		setpgrp(0, 0);
		exec { $argv[0] } @argv or POSIX::_exit(127);
	}
	$children{$pid} = $name;
	return $pid;
}

# Waits up to $secs for $pid; returns its wait status or undef.
sub reap {
	my ($pid, $secs) = @_;
	my $end = time + $secs;
	while (time < $end) {
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid) {
			delete $children{$pid};
			return $?;
		}
		if ($r < 0) {
			delete $children{$pid};
			return undef;
		}
		sleep 0.02;
	}
	return undef;
}

# TERM, a bounded wait, then KILL. Returns the wait status.
sub stop_pid {
	my ($pid, $secs) = @_;
	return undef unless $children{$pid};
	kill 'TERM', $pid;
	my $st = reap($pid, $secs // 5);
	return $st if defined $st;
	kill 'KILL', $pid;
	return reap($pid, 5);
}

END {
	local $?;
	kill 'KILL', $_ for keys %children;
	reap($_, 2) for keys %children;
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };	# runs END

# wait_until(SECONDS, CODE): polls CODE until true; returns its value or
# undef after SECONDS.
sub wait_until {
	my ($secs, $code) = @_;
	my $end = time + $secs;
	while (1) {
		my $v = $code->();
		return $v if $v;
		return undef if time >= $end;
		sleep 0.02;
	}
}

# run_timeout(SECONDS, argv...) -> (exit code, output) with stdout and
# stderr together; killed (code -1) when it runs too long.
sub run_timeout {
	my ($secs, @argv) = @_;
	my $dir = MxTest::tmpdir();
	my $out = "$dir/out";
	my $pid = spawn($argv[0], $out, @argv);
	my $st = reap($pid, $secs);
	my $rc = -1;
	if (defined $st) {
		$rc = $st >> 8;
	} else {
		stop_pid($pid, 1);
	}
	return ($rc, read_file($out) // '');
}

# --- ports ---------------------------------------------------------------

sub listening {
	my ($port) = @_;
	my $hex = sprintf(':%04X ', $port);
	open my $fh, '<', '/proc/net/tcp' or return 0;
	while (<$fh>) {
		my @f = split ' ';
		return 1 if $f[1] && $f[1] eq sprintf('0100007F:%04X', $port)
		    && $f[3] eq '0A';
		return 1 if $f[1] && $f[1] eq sprintf('00000000:%04X', $port)
		    && $f[3] eq '0A';
	}
	return 0;
}

# free_port: MxTest's, re-exported here for the SMTP tests
*free_port = \&MxTest::free_port;

# A port where nothing listens (for "customer down").
sub dead_port { free_port() }

# --- smtp-sink -----------------------------------------------------------

package MxSMTP::Sink;
use Time::HiRes qw(time sleep);

# start_sink(args => [...], port => N): smtp-sink dumping every message
# to its own file under $sink->{dir}.
sub MxSMTP::start_sink {
	my (%o) = @_;
	my $dir = MxTest::tmpdir();
	my $port = $o{port} // MxSMTP::free_port();
	my @argv = ('smtp-sink');
	push @argv, '-u', 'root' if $> == 0;
	push @argv, '-d', "$dir/dump/%H%M%S/m.", '-t', '10',
	    @{ $o{args} // [] }, "$MxSMTP::HOST:$port", '100';
	mkdir "$dir/dump";
	my $pid = MxSMTP::spawn('smtp-sink', "$dir/sink.log", @argv);
	my $self = bless { pid => $pid, port => $port, dir => $dir,
	    argv => \@argv }, __PACKAGE__;
	MxSMTP::wait_until(10, sub { MxSMTP::listening($port) })
	    or die "smtp-sink did not start: @argv\n" .
	    (MxTest::read_file("$dir/sink.log") // '');
	return $self;
}

sub port { $_[0]{port} }

# Dump files of complete messages, oldest first. smtp-sink creates the
# file at MAIL (empty), fills it during DATA and appends an empty line at
# the end; an aborted transaction's file is removed.
sub files {
	my ($self) = @_;
	my @f = grep {
		my $t = MxTest::read_file($_);
		defined $t && $t =~ /\n\n\z/;
	} glob("$self->{dir}/dump/*/m.*");
	return sort { (stat $a)[9] <=> (stat $b)[9] || $a cmp $b } @f;
}

# Every dump file, complete or not (transactions in progress).
sub all_files { glob("$_[0]{dir}/dump/*/m.*") }

sub count { scalar(my @f = $_[0]->files) }

# The dumps' contents (raw: smtp-sink's own header lines included).
sub messages { map { MxTest::read_file($_) } $_[0]->files }

# Waits (bounded) until exactly/at least n messages are there.
sub wait_count {
	my ($self, $n, $secs) = @_;
	MxSMTP::wait_until($secs // 5, sub { $self->count >= $n });
	return $self->count;
}

# Forgets the dumps seen so far.
sub clear {
	my ($self) = @_;
	unlink $self->all_files;
}

sub log { MxTest::read_file("$_[0]{dir}/sink.log") // '' }

sub stop {
	my ($self) = @_;
	MxSMTP::stop_pid($self->{pid}, 3);
}

# --- mxgate --------------------------------------------------------------

package MxSMTP::Gate;
use Time::HiRes qw(time sleep);

# start_mxgate(config => TEXT (without listen), port => N, etc => DIR)
# Added unless the text has them: hostname mx.example.test, a queue in the
# test's own directory, pregreet_wait 0; the listen line always. The file
# is DIR/mxgate.conf (a configuration directory of its own, for the
# mxgatectl config tests), else in the test's directory. Waits (bounded)
# for "ready" in the log; dies on failure.
sub MxSMTP::start_mxgate {
	my (%o) = @_;
	my $dir = MxTest::tmpdir();
	my $port = $o{port} // MxSMTP::free_port();
	my $conf = ($o{etc} // $dir) . "/mxgate.conf";
	my $text = $o{config} // '';
	$text = "hostname mx.example.test\n$text" unless $text =~ /^hostname /m;
	$text .= "\n" unless $text =~ /\n\z/;
	# never the system queue: a test's outage mail stays in its own dir
	$text .= "queue $dir/queue\n" unless $text =~ /^queue /m;
	# the pregreet wait (gating, tested on its own) would delay every
	# first banner by seconds
	$text .= "pregreet_wait 0\n" unless $text =~ /^pregreet_wait /m;
	$text .= "listen $MxSMTP::HOST:$port\n";
	MxTest::write_file($conf, $text);
	my $log = "$dir/mxgate.log";
	my $pid = MxSMTP::spawn('mxgate', $log, MxTest::bin('mxgate'),
	    '-f', $conf);
	my $self = bless { pid => $pid, port => $port, dir => $dir,
	    conf => $conf, logfile => $log, config => $text }, __PACKAGE__;
	my $ok = MxSMTP::wait_until(10, sub {
		$self->log =~ /mxgate\/master\[\d+\]: mxgate \S+ ready: / ||
		    !kill(0, $pid) || waitpid($pid, POSIX::WNOHANG()) == $pid });
	die "mxgate did not get ready:\n$text\n" . $self->log
	    unless $self->log =~ / ready: /;
	return $self;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub conf { $_[0]{conf} }
sub log  { MxTest::read_file($_[0]{logfile}) // '' }
sub log_lines { split /\n/, $_[0]->log }

# Waits (bounded) for a log line matching re; returns the line.
sub wait_log {
	my ($self, $re, $secs) = @_;
	return MxSMTP::wait_until($secs // 5, sub {
		(grep { /$re/ } $self->log_lines)[0] });
}

# Rewrites the config file (listen and queue lines kept).
sub rewrite_config {
	my ($self, $text) = @_;
	$text = "hostname mx.example.test\n$text" unless $text =~ /^hostname /m;
	$text .= "\n" unless $text =~ /\n\z/;
	$text .= "queue $self->{dir}/queue\n" unless $text =~ /^queue /m;
	$text .= "pregreet_wait 0\n" unless $text =~ /^pregreet_wait /m;
	$text .= "listen $MxSMTP::HOST:$self->{port}\n";
	MxTest::write_file($self->{conf}, $text);
}

sub signal { kill $_[1], $_[0]{pid} }

# Log lines that say a process of ours died of a signal (a worker crash
# the parent survived and restarted).
sub crashes { grep { /killed by signal|dumped core/ } $_[0]->log_lines }

sub alive { kill 0, $_[0]{pid} }

# Waits up to secs for exit; returns the wait status or undef.
sub wait_exit {
	my ($self, $secs) = @_;
	return MxSMTP::reap($self->{pid}, $secs);
}

sub stop {
	my ($self) = @_;
	MxSMTP::stop_pid($self->{pid}, 5);
}

# --- raw SMTP client -----------------------------------------------------

package MxSMTP::Client;
use Errno qw(EINTR EAGAIN);
use Time::HiRes qw(time sleep);

sub MxSMTP::smtp_connect {
	my ($port, %o) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => $MxSMTP::HOST,
	    PeerPort => $port, Proto => 'tcp', Timeout => 5,
	    $o{local} ? (LocalAddr => $o{local}) : ())
	    or die "connect to $port: $!";
	$sock->autoflush(1);
	binmode $sock;
	my $self = bless { sock => $sock, buf => '', eof => 0,
	    timeout => $o{timeout} // 5, log => '' }, __PACKAGE__;
	return $self;
}

# Sends exact bytes in one write.
sub send_raw {
	my ($self, $bytes) = @_;
	$self->{log} .= join('', map { (my $l = $_) =~ s/\r?\n\z//; "> $l\n" } split /(?<=\n)/, $bytes);
	my $off = 0;
	local $SIG{PIPE} = 'IGNORE';
	while ($off < length $bytes) {
		my $n = syswrite($self->{sock}, $bytes, length($bytes) - $off,
		    $off);
		if (!defined $n) {
			next if $! == EINTR;
			return 0;
		}
		$off += $n;
	}
	return 1;
}

# Sends TEXT CRLF (or several, joined into one write).
sub send {
	my ($self, @lines) = @_;
	return $self->send_raw(join('', map { "$_\r\n" } @lines));
}

# Reads more input, waiting at most until $end. 0 on timeout/EOF.
sub fill {
	my ($self, $end) = @_;
	return 0 if $self->{eof};
	my $left = $end - time;
	return 0 if $left <= 0;
	my $sel = IO::Select->new($self->{sock});
	return 0 unless $sel->can_read($left);
	my $n = sysread($self->{sock}, my $chunk, 65536);
	if (!defined $n) {
		return 1 if $! == EINTR || $! == EAGAIN;
		$self->{eof} = 1;	# ECONNRESET and friends
		return 0;
	}
	if ($n == 0) {
		$self->{eof} = 1;
		return 0;
	}
	$self->{buf} .= $chunk;
	return 1;
}

# One whole reply (all lines of a multi-line reply), CRLF kept; undef on
# timeout or EOF before a complete reply. Malformed lines end the reply
# (so a test sees them).
sub reply_raw {
	my ($self, $timeout) = @_;
	my $end = time + ($timeout // $self->{timeout});
	my $pos = 0;
	while (1) {
		while ((my $i = index($self->{buf}, "\n", $pos)) >= 0) {
			my $line = substr($self->{buf}, $pos, $i + 1 - $pos);
			$pos = $i + 1;
			next if $line =~ /^\d{3}-/;
			my $r = substr($self->{buf}, 0, $pos, '');
			$self->{log} .= join('', map { "< $_\n" }
			    split /\r?\n/, $r);
			return $r;
		}
		return undef unless $self->fill($end);
	}
}

# The reply with CRLFs turned into "\n" and the last one dropped.
sub reply {
	my ($self, $timeout) = @_;
	my $r = $self->reply_raw($timeout);
	return undef unless defined $r;
	$r =~ s/\r\n/\n/g;
	chomp $r;
	return $r;
}

# Sends lines and returns the one reply they produce.
sub cmd {
	my ($self, @lines) = @_;
	$self->send(@lines);
	return $self->reply;
}

# 1 when the server closes within timeout with nothing more to say.
sub closed {
	my ($self, $timeout) = @_;
	my $end = time + ($timeout // $self->{timeout});
	1 while $self->fill($end);
	return $self->{eof} && $self->{buf} eq '';
}

sub pending_input { $_[0]{buf} }
sub transcript { $_[0]{log} }
sub disconnect { close $_[0]{sock} }

# Reads the banner and says EHLO; returns the EHLO reply (undef if the
# banner or the EHLO reply is not a 2xx).
sub hello {
	my ($self, $name) = @_;
	my $r = $self->reply;
	return undef unless defined $r && $r =~ /^220 /;
	$r = $self->cmd('EHLO ' . ($name // 'client.sender.test'));
	return undef unless defined $r && $r =~ /^250 /m;
	$self->{greeted} = 1;
	return $r;
}

# A plain transaction: greeting read by caller (hello) or here. Returns the
# final reply to the message ("250 2.0.0 Ok: queued as ID") or the first
# unexpected reply.
sub transaction {
	my ($self, %o) = @_;
	my $from = $o{from} // 'bob@sender.test';
	my @to = ref $o{to} ? @{ $o{to} } : ($o{to} // 'alice@example.test');
	my $r;
	unless ($self->{greeted}) {
		$r = $self->reply;
		return $r unless defined $r && $r =~ /^220 /;
		$r = $self->cmd("EHLO client.sender.test");
		return $r unless defined $r && $r =~ /^250 /m;
		$self->{greeted} = 1;
	}
	$r = $self->cmd("MAIL FROM:<$from>");
	return $r unless defined $r && $r =~ /^250 /;
	my $ok = 0;
	for my $t (@to) {
		$r = $self->cmd("RCPT TO:<$t>");
		return $r unless defined $r && ($r =~ /^250 / || $o{partial});
		$ok++ if $r =~ /^250 /;
	}
	return $r unless $ok;
	$r = $self->cmd("DATA");
	return $r unless defined $r && $r =~ /^354 /;
	$self->send_raw($o{data} . ".\r\n");
	return $self->reply($o{timeout});
}

# --- message comparison helpers ------------------------------------------

package MxSMTP;

# LF for CRLF, as smtp-sink writes its dumps.
sub crlf_to_lf { my $t = shift; $t =~ s/\r\n/\n/g; return $t }

# What a receiving server stores for wire-form DATA (RFC 5321 4.5.2).
sub dot_unstuff { my $t = shift; $t =~ s/^\.//mg; return $t }

# Removes smtp-sink's own X-* lines and its three-line Received: from the
# top of a dump and the empty line it appends at the end.
sub sink_strip {
	my ($d) = @_;
	return undef unless defined $d;
	$d =~ s/\A(?:X-[A-Za-z-]+: [^\n]*\n)*Received: from [^\n]*\n\tby [^\n]*\(smtp-sink\)[^\n]*\n\t[^\n]*\n//
	    or return undef;
	$d =~ s/\n\z// or return undef;
	return $d;
}

# Removes mxgate's prepended Received: (with its continuation lines) and
# X-Mxgate-* headers (LF line ends, as in a sink dump). Returns
# (rest, prepended) or () when they are not exactly there.
sub mx_strip {
	my ($d) = @_;
	return () unless defined $d &&
	    $d =~ s/\A(Received: from [^\n]*\n(?:\t[^\n]*\n)+(?:X-Mxgate-[A-Za-z-]+: [^\n]*\n)+)//;
	return ($d, $1);
}

# --- dialogues -----------------------------------------------------------
#
# A dialogue script is data: one step per line.
#   # text            comment (also blank lines)
#   @config LINE      extra mxgate config line ($SINK, $DEAD: ports)
#   @sink ARGS        smtp-sink options (e.g. "-f RCPT")
#   @timeout SECS     how long each expectation may wait (default 5)
#   @messages N       the sink must hold exactly N messages at the end
#   @log REGEX        mxgate's log must have a line matching REGEX
#   @todo REASON      a known bug: the script's tests are TAP TODO
#   > TEXT            send TEXT CRLF
#   >raw ESCAPED      send exact bytes: \r \n \0 \t \\ \xHH
#   >repeat N ESCAPED send ESCAPED N times
#   < REGEX           the next reply (lines joined with \n, no CRLF)
#                     must match REGEX from its start
#   <repeat N REGEX   the next N replies must each match REGEX (one
#                     expectation; it names the first that does not)
#   ! closed          the server must close, with nothing more to say
#   ~ SECS            pause
# Sends are buffered and written together, in one write, before the next
# expectation (so "> A", "> B", "< x", "< y" is a pipelined batch).

sub dlg_unescape {
	my ($s) = @_;
	$s =~ s/\\(x([0-9a-fA-F]{2})|[rn0t\\])/
	    $2 ? chr(hex $2) : { r => "\r", n => "\n", 0 => "\0",
	    t => "\t", '\\' => '\\' }->{$1}/ge;
	return $s;
}

sub parse_dialogue {
	my ($file) = @_;
	my $text = MxTest::read_file($file) // die "$file: $!";
	my %d = (file => $file, config => [], sink => [], steps => [],
	    timeout => 5, log => []);
	my $n = 0;
	for my $line (split /\n/, $text) {
		$n++;
		next if $line =~ /^\s*(#|$)/;
		if ($line =~ /^\@config (.*)$/) { push @{ $d{config} }, $1 }
		elsif ($line =~ /^\@sink (.*)$/) { push @{ $d{sink} }, split ' ', $1 }
		elsif ($line =~ /^\@timeout (\d+(?:\.\d+)?)$/) { $d{timeout} = $1 }
		elsif ($line =~ /^\@messages (\d+)$/) { $d{messages} = $1 }
		elsif ($line =~ /^\@log (.*)$/) { push @{ $d{log} }, $1 }
		elsif ($line =~ /^\@todo (.*)$/) { $d{todo} = $1 }
		elsif ($line =~ /^> ?(.*)$/ && $line !~ /^>(raw|repeat)\b/) {
			push @{ $d{steps} }, [ $n, 'send', "$1\r\n" ];
		} elsif ($line =~ /^>raw (.*)$/) {
			push @{ $d{steps} }, [ $n, 'send', dlg_unescape($1) ];
		} elsif ($line =~ /^>repeat (\d+) (.*)$/) {
			push @{ $d{steps} }, [ $n, 'send', dlg_unescape($2) x $1 ];
		} elsif ($line =~ /^<(?:repeat (\d+))? (.*)$/) {
			my ($times, $re) = ($1 // 1, $2);
			eval { qr/$re/ } or die "$file:$n: bad regex: $@";
			push @{ $d{steps} }, [ $n, 'expect', $re, $times ];
		} elsif ($line =~ /^! closed\s*$/) {
			push @{ $d{steps} }, [ $n, 'closed' ];
		} elsif ($line =~ /^~ (\d+(?:\.\d+)?)$/) {
			push @{ $d{steps} }, [ $n, 'pause', $1 ];
		} else {
			die "$file:$n: cannot parse: $line\n";
		}
	}
	return \%d;
}

# Runs a parsed dialogue against a connected client. Returns a list of
# [ok, name, diagnostic] results, one per expectation; stops at the first
# failure (what follows would only be noise).
sub run_dialogue {
	my ($d, $c) = @_;
	my @res;
	my $pending = '';
	my $base = (split m{/}, $d->{file})[-1];
	for my $st (@{ $d->{steps} }) {
		my ($n, $kind, $arg, $times) = @$st;
		if ($kind eq 'send') {
			$pending .= $arg;
			next;
		}
		if ($pending ne '') {
			$c->send_raw($pending);
			$pending = '';
		}
		if ($kind eq 'pause') {
			sleep $arg;
			next;
		}
		if ($kind eq 'expect') {
			my ($ok, $why, $i) = (1, '', 0);
			while ($ok && $i++ < $times) {
				my $r = $c->reply($d->{timeout});
				$ok = defined $r && $r =~ /\A(?:$arg)/;
				$why = ($times > 1 ? "reply $i of $times: " : '') .
				    (defined $r ? "got: $r" : "got no reply (" .
				    ($c->{eof} ? 'closed' : 'timeout') . ")");
			}
			push @res, [ $ok, "$base:$n: <" .
			    ($times > 1 ? "repeat $times" : '') . " $arg", $why ];
		} elsif ($kind eq 'closed') {
			my $ok = $c->closed($d->{timeout});
			push @res, [ $ok, "$base:$n: ! closed",
			    "still open or more output: '" .
			    $c->pending_input . "'" ];
		}
		last unless $res[-1][0];
	}
	$c->send_raw($pending) if $pending ne '';
	return @res;
}

1;
