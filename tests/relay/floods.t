#!/usr/bin/perl
# floods.t — abusive clients against the real relay, bounded, on
# loopback, all at once, while a legitimate sender keeps relaying:
#   - a connection flood: FLOOD_CONNS connections (default 2,000; `make
#     faults` 10,000) from 250 addresses in 127.0.0.0/8, in waves, each
#     hanging up 0.3 s after its connect;
#   - FLOOD_SLOW slowloris clients (default 300; `make faults` 1,000)
#     from 100 addresses, each sending one byte of a command every 2 s;
#   - 20 clients that start STARTTLS and stall in the handshake;
#   - a DNSBL zone whose resolver answers nothing (a UDP socket that
#     reads and drops).
# The legitimate sender (its own address) sends 40 messages; each must be
# relayed. Reported: its success rate and latencies (p50, p99), the
# workers' memory and descriptors at the peak and after, and the reply
# codes the abusers got. Asserted: no process died, every legitimate
# message arrived, the workers' memory stays under 64 MiB each, every
# refusal carries a documented code (421 or 554), the stalled
# handshakes and the slowloris clients are cut by the configured
# deadlines, and the descriptors return to their idle count.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;

my $CONNS = $ENV{FLOOD_CONNS} // 2000;
my $SLOW  = $ENV{FLOOD_SLOW}  // 300;
# the soft descriptor limit up to the hard one (prlimit, util-linux)
my $hard = `sh -c 'ulimit -Hn'` + 0;
system('prlimit', "--pid=$$", "--nofile=$hard:$hard") if $hard > 0;
my $soft = `sh -c 'ulimit -Sn'` + 0;
need(['root: the relay roles drop to their own users', $> == 0],
    ["a descriptor limit of at least ${\ ($SLOW + 600)} (have $soft)",
     $soft >= $SLOW + 600]);
my $STALL = 20;
my $LEGIT = 40;

# the silent resolver
my $dns = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1',
    LocalPort => 0) or BAIL_OUT("udp: $!");
my $dport = $dns->sockport;
my $silent = fork // die;
if (!$silent) {
	my $buf;
	my $end = time + 300;
	while (time < $end) {
		$dns->recv($buf, 4096);		# and never answer
	}
	POSIX::_exit(0);
}

my $sport = MxSMTP::free_port();
my $sink = start_sink(port => $sport);
my $mx = start_mxgate(config => <<"CONF");
route example.test 127.0.0.1:$sport
resolver 127.0.0.1:$dport
dnsbl silent.bl.test 1
dnsbl_timeout 1s
pregreet_wait 0
max_sessions 5000
command_timeout 10
CONF
# the parent says ready before its workers do: wait for all of them
my ($nw) = $mx->log =~ / ready: \d+ listeners?, \d+ routes?, (\d+) workers?/;
$nw //= 1;
my @workers;
MxSMTP::wait_until(10, sub {
	@workers = $mx->log =~ /mxgate\/smtpd\[(\d+)\]: worker \d+ ready/g;
	@workers >= $nw });
is(scalar(@workers), $nw, "all $nw workers found: @workers") or diag $mx->log;

sub rss_kb { my $s = read_file("/proc/$_[0]/status") // ''; ($s =~ /^VmRSS:\s+(\d+)/m)[0] // 0 }
sub fds { scalar(my @f = glob("/proc/$_[0]/fd/*")) }
sub snapshot {
	my %s;
	for my $w (@workers) { $s{rss}{$w} = rss_kb($w); $s{fds}{$w} = fds($w) }
	return \%s;
}
my $idle = snapshot();
diag('idle: ' . join(', ', map { "worker $_ ${\ $idle->{rss}{$_}} kB, ${\ $idle->{fds}{$_}} fds" } @workers));

# the abusers, each in a child that reports a line of counts
pipe(my $rd, my $wr) or die;
my @kids;
sub child(&) {
	my ($code) = @_;
	my $pid = fork // die;
	if (!$pid) {
		close $rd;
		my $line = eval { $code->() } // "error $@";
		print $wr "$line\n";
		close $wr;
		POSIX::_exit(0);
	}
	push @kids, $pid;
}

# 1. the connection flood: waves of 500
child {
	my (%code, $refused) = ();
	my $done = 0;
	while ($done < $CONNS) {
		my @s;
		for (1 .. 500) {
			last if $done >= $CONNS;
			my $i = $done++ % 250;
			my $src = sprintf('127.3.%d.%d', int($i / 50), 1 + $i % 50);
			my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
			    PeerPort => $mx->port, LocalAddr => $src,
			    Blocking => 0, Proto => 'tcp');
			if ($c) { push @s, $c } else { $refused++ }
		}
		my $sel = IO::Select->new(@s);
		my $end = time + 0.3;
		while ((my $left = $end - time) > 0) {
			for my $c ($sel->can_read($left)) {
				my $l = <$c> // '';
				my ($k) = $l =~ /^(\d{3})/;
				$code{$k // 'closed'}++;
				$sel->remove($c);
			}
		}
		close $_ for @s;
	}
	return 'flood ' . join(' ', map { "$_=$code{$_}" } sort keys %code)
	    . ' connect_failed=' . ($refused // 0);
};

# 2. slowloris: one byte every 2 s, until the server hangs up
child {
	my @s;
	for my $i (0 .. $SLOW - 1) {
		my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		    PeerPort => $mx->port, LocalAddr => '127.4.0.' . (1 + $i % 100),
		    Proto => 'tcp', Timeout => 5) or next;
		push @s, $c;
	}
	my $opened = @s;
	my %cut;
	# the banner first (it waits for the DNSBL): a client that talks
	# before it is cut as a pregreet talker, not as a slowloris
	my $sel = IO::Select->new(@s);
	my %banner;
	my $bend = time + 8;
	while (keys(%banner) < @s && (my $left = $bend - time) > 0) {
		for my $c ($sel->can_read($left)) {
			my $l = <$c> // 'closed';
			$banner{$c} = 1;
			next if $l =~ /^220 /;
			$cut{$l =~ /^(\d{3} [\d.]+)/ ? "at connect $1" : 'at connect closed'}++;
			$sel->remove($c);
		}
	}
	my $t0 = time;
	my $k = 0;
	while ($sel->count && time - $t0 < 40) {
		my $byte = substr('EHLO slow.example', $k++ % 17, 1);
		for my $c ($sel->handles) { syswrite($c, $byte) }
		my $end = time + 2;
		while ((my $left = $end - time) > 0) {
			for my $c ($sel->can_read($left)) {
				my $buf = '';
				my $n = sysread($c, $buf, 4096);
				next if $n && $buf =~ /^220 /m && $buf !~ /^421 /m;
				if (!$n || $buf =~ /^421 /m) {
					$cut{$buf =~ /^(421 [\d.]+)/m ? $1 : 'closed'}++;
					$cut{after} = sprintf('%.0fs', time - $t0);
					$sel->remove($c);
				}
			}
		}
	}
	return "slowloris opened=$opened still_open=" . $sel->count . ' '
	    . join(' ', map { "$_=$cut{$_}" } sort keys %cut);
};

# 3. STARTTLS, then silence in the middle of the handshake
child {
	my @s;
	for my $i (1 .. $STALL) {
		my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		    PeerPort => $mx->port, LocalAddr => "127.5.0.$i",
		    Proto => 'tcp', Timeout => 5) or next;
		push @s, $c;
	}
	my $t0 = time;
	for my $c (@s) {
		<$c>;					# banner
		print $c "EHLO stall.example\r\n";
		while (my $l = <$c>) { last if $l =~ /^250 / }
		print $c "STARTTLS\r\n";
		<$c>;					# 220
		syswrite($c, "\x16\x03\x01\x00");	# a record header, no more
	}
	my $sel = IO::Select->new(@s);
	my $closed = 0;
	while ($sel->count && time - $t0 < 40) {
		for my $c ($sel->can_read(1)) {
			my $buf;
			if (!sysread($c, $buf, 4096)) { $closed++; $sel->remove($c) }
		}
	}
	return "stall opened=" . scalar(@s) . " closed=$closed after="
	    . sprintf('%.0f', time - $t0);
};
close $wr;

# meanwhile, the legitimate sender
sleep 0.5;
my (@lat, $okn);
my $peak = snapshot();
for my $i (1 .. $LEGIT) {
	my $t = time;
	my $c = eval { smtp_connect($mx->port, local => '127.0.0.200') };
	my $r = $c ? $c->transaction(data => "Subject: legit $i\r\n\r\nbody\r\n") // '' : '';
	$c->disconnect if $c;
	push @lat, time - $t;
	$okn++ if $r =~ /^250 /;
	my $s = snapshot();
	for my $w (@workers) {
		$peak->{rss}{$w} = $s->{rss}{$w} if $s->{rss}{$w} > $peak->{rss}{$w};
		$peak->{fds}{$w} = $s->{fds}{$w} if $s->{fds}{$w} > $peak->{fds}{$w};
	}
	sleep 0.25;
}
my @sorted = sort { $a <=> $b } @lat;
my $p = sub { $sorted[int($_[0] * $#sorted + 0.5)] };
is($okn // 0, $LEGIT, "the legitimate sender: $LEGIT of $LEGIT relayed");
diag(sprintf('legitimate sender: %d/%d relayed, latency p50 %.3f s, p99 %.3f s, max %.3f s',
    $okn // 0, $LEGIT, $p->(0.5), $p->(0.99), $sorted[-1]));
is($sink->wait_count($LEGIT, 20), $LEGIT, 'and every one reached the customer');

my %rep;
while (my $l = <$rd>) { chomp $l; my ($k) = $l =~ /^(\w+)/; $rep{$k} = $l; diag($l) }
waitpid($_, 0) for @kids;
diag('peak: ' . join(', ', map { "worker $_ ${\ $peak->{rss}{$_}} kB, ${\ $peak->{fds}{$_}} fds" } @workers));

ok(($rep{flood} // '') =~ /^flood /, 'the flood ran');
my %codes = ($rep{flood} // '') =~ /(\w+)=(\d+)/g;
my @odd = grep { !/^(220|421|554|closed|connect_failed)$/ } keys %codes;
is_deeply(\@odd, [], 'the flood got only banners, 421, 554 or nothing');
like($rep{slowloris} // '', qr/still_open=0\b/, 'every slowloris client was cut');
like($rep{slowloris} // '', qr/ 421 4\.4\.2=\d+/, '... those past the banner '
    . 'with 421 4.4.2 (timeout)');
like($rep{stall} // '', qr/opened=$STALL closed=$STALL\b/,
    'every stalled STARTTLS handshake was closed');
for my $w (@workers) {
	cmp_ok($peak->{rss}{$w}, '<', 64 * 1024, "worker $w peak memory "
	    . "$peak->{rss}{$w} kB < 64 MiB");
}
# after: everything released
ok(MxSMTP::wait_until(15, sub {
	my $s = snapshot();
	!grep { $s->{fds}{$_} > $idle->{fds}{$_} + 2 } @workers }),
    'the workers\' descriptors return to their idle count')
    or diag explain snapshot();
diag('after: ' . join(', ', map { my $s = snapshot(); "worker $_ ${\ $s->{rss}{$_}} kB, ${\ $s->{fds}{$_}} fds" } @workers));
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed')
    or diag join "\n", $mx->crashes;
like($mx->log, qr/DNSBL incomplete for unknown\[127\.0\.0\.200\]/,
    'the silent DNSBL timed out and counted as not listed');

kill 'TERM', $silent;
waitpid($silent, 0);
$mx->stop;
$sink->stop;
done_testing();
