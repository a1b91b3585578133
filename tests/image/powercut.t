#!/usr/bin/perl
# powercut.t — the power of the appliance is cut while mail is being
# queued. The customer's server is down (nothing listens behind the
# guestfwd), so every message a sender gets 250 for is in the outage
# queue on the data partition. QEMU is killed with SIGKILL (no shutdown,
# no sync) at a random moment of a steady stream, POWERCUT_CYCLES times
# (2 in make check, 5 in make faults); after each cut the same disk boots
# again: init's e2fsck must find the data partition consistent (journal
# replay only), the relay must come up with its queue. At the end the
# customer comes back, an admin flushes the queue on the console, and
# every message that got a 250 must arrive — none lost; duplicates
# counted (none expected: nothing is delivered while the customer is
# down).
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP ();
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $cycles = $ENV{POWERCUT_CYCLES} // 2;

my $tmp = tmpdir();
my $sinkdir = sink_dir();
my $disk = image_copy($tmp, {
    'mxgate.conf' => "hostname mx.demo.test\nlisten 0.0.0.0:25\n" .
	"route demo.test 10.0.2.100:25\nqueue /data/queue\n" .
	"connect_timeout 2\npregreet_wait 0\n",
    'ntp.conf' => "server none\n" });
my ($port, $sinkport) = (free_port(), free_port());
my (%acked, $sent);

sub boot_ready {
	my ($n) = @_;
	my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => $port,
	    sink => $sinkport, log => "$tmp/console-$n.log");
	my $ok = $vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300);
	return ($vm, $ok);
}

my ($vm, $ready) = boot_ready(0);
ok($ready, 'first boot: ready (customer down)') or BAIL_OUT("console: $tmp/console-0.log");

for my $c (1 .. $cycles) {
	# a steady stream; the power is cut after 2-6 s
	my $cut = 2 + rand 4;
	my $t0 = time;
	my $n = 0;
	while (time - $t0 < $cut) {
		my $tag = "pc-$c-" . ++$n;
		my $r = eval {
			my $s = MxSMTP::smtp_connect($port, timeout => 10);
			my $x = $s->transaction(to => 'alice@demo.test',
			    data => "Subject: $tag\r\n\r\npower cut test\r\n");
			$s->disconnect;
			$x;
		} // '';
		$sent++;
		$acked{$tag} = $1 if $r =~ /^250 .*queued as (\S+)/;
	}
	$vm->power_cut;
	my $acked_now = grep { /^pc-$c-/ } keys %acked;
	diag(sprintf 'cycle %d: power cut after %.1f s, %d messages sent, %d acknowledged',
	    $c, $cut, $n, $acked_now);
	($vm, $ready) = boot_ready($c);
	ok($vm->output =~ /data partition checked: e2fsck exit ([01])\b/,
	    "cycle $c: after the cut the data partition checks consistent"
	    . " (e2fsck exit " . (($vm->output =~ /e2fsck exit (\d+)/)[0] // '?') . ')')
	    or diag("console: $tmp/console-$c.log");
	unlike($vm->output, qr/UNEXPECTED INCONSISTENCY|filesystem repaired/,
	    "cycle $c: no repair needed");
	ok($ready, "cycle $c: the relay is ready again") or diag("console: $tmp/console-$c.log");
}
cmp_ok(scalar(keys %acked), '>', 0, scalar(keys %acked) . " of $sent messages acknowledged in all");

# the customer is back; an admin flushes the queue
my $sink = start_sink($sinkdir, $sinkport);
ok($vm->login(120), 'admin logs in on the console');
my $out = $vm->run_cmd('mxgatectl queue flush; echo "flush exit $?"', 60) // '';
like($out, qr/^flush exit 0/m, 'mxgatectl queue flush') or diag($out);
my %got;
my $deadline = time + 240;
while (time < $deadline) {
	%got = ();
	for my $f (glob("$sinkdir/*")) {
		my $t = read_file($f) // next;
		$got{$1}++ while $t =~ /^Subject: (pc-\d+-\d+)\r?$/mg;
	}
	last unless grep { !$got{$_} } keys %acked;
	sleep 2;
}
my @lost = sort grep { !$got{$_} } keys %acked;
is_deeply(\@lost, [], 'every acknowledged message arrived (none lost)')
    or diag("missing: @lost");
my @dups = grep { $got{$_} > 1 } keys %got;
diag(sprintf '%d acknowledged, %d arrived, %d duplicates, %d unacknowledged that arrived anyway',
    scalar(keys %acked), scalar(grep { $acked{$_} } keys %got), scalar(@dups),
    scalar(grep { !$acked{$_} } keys %got));
is(scalar(@dups), 0, 'no duplicates');
ok($vm->acpi_powerdown, 'ACPI power-down sent');
ok($vm->expect(qr/mxgate: poweroff now/, 120), 'clean shutdown');
$vm->wait_exit(60);
stop_sink($sink);
done_testing();
