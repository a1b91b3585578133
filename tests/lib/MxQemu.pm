# MxQemu.pm — helpers for the image tests: copy the built disk image and
# inject a seed config into its ESP (mtools), start the appliance under
# QEMU via board/qemu-x86_64/qemu.sh with the serial console on a pipe,
# wait for console lines with deadlines, type at the console, start a
# local smtp-sink as the customer server, and check whether out/bin/mxgate
# is a working relay yet. Every wait is bounded; QEMU is killed on exit.
package MxQemu;
use strict;
use warnings;
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use IPC::Open3;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use File::Temp ();
use MxTest;

our @EXPORT = qw(image_dir image_copy sink_dir start_sink stop_sink
	ovmf_present relay_through);

sub top { $ENV{MXGATE_TOP} // '.' }
sub image_dir { out_dir() . '/image' }
sub ovmf_present { -f '/usr/share/OVMF/OVMF_CODE_4M.fd' }

# image_copy(DIR, {NAME => TEXT, ...}[, ARTIFACT]) -> path of a sparse
# copy of the raw image (or of ARTIFACT, e.g. mxgate.vhd: a fixed VHD is
# the raw disk plus a footer) with the given files put into ESP:/mxgate/
sub image_copy {
	my ($dir, $seed, $artifact) = @_;
	$artifact //= 'mxgate.img';
	my $disk = "$dir/disk-$artifact";
	system('cp', '--sparse=always', image_dir() . "/$artifact", $disk) == 0
	    or die "copy image: $?";
	local $ENV{MTOOLS_SKIP_CHECK} = 1;
	for my $name (sort keys %{$seed // {}}) {
		my $f = write_file("$dir/$name", $seed->{$name});
		system('mcopy', '-o', '-i', "$disk\@\@1M", $f, "::/mxgate/$name") == 0
		    or die "mcopy $name: $?";
	}
	return $disk;
}


# sink_dir() -> a fresh directory smtp-sink can write into after dropping
# to nobody (under /tmp: the output tree may not be traversable by nobody)
sub sink_dir {
	my $d = File::Temp::tempdir('mxgate-sink-XXXXXX', TMPDIR => 1,
	    CLEANUP => !$ENV{KEEP_TMP});
	chmod 01777, $d;
	return $d;
}

# start_sink(DIR, PORT) -> pid of Postfix's smtp-sink writing each mail
# into DIR/ (from sink_dir())
sub start_sink {
	my ($dir, $port) = @_;
	my @u = $< == 0 ? ('-u', 'nobody') : ();
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', '/dev/null';
		exec 'smtp-sink', @u, '-d', "$dir/%H%M%S.", "127.0.0.1:$port", '16';
		exit 127;
	}
	for (1 .. 50) {
		my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
		if ($c) { close $c; last }
		sleep 0.1;
	}
	return $pid;
}

sub stop_sink { my $pid = shift; kill 'TERM', $pid; waitpid($pid, 0) }

# relay_through(PORT, SINKDIR, TAG) -> (swaks exit code, its output,
# whether the message reached the sink within 60 s): one message sent with
# swaks to the guest through the hostfwd on PORT, looked for in SINKDIR
sub relay_through {
	my ($port, $sinkdir, $tag) = @_;
	my $subject = "mxgate image test $tag " . int(rand 1e9);
	my ($rc, $out, $err) = run('swaks', '--server', "127.0.0.1:$port",
	    '--from', 'sender@example.org', '--to', 'user@demo.test',
	    '--header', "Subject: $subject", '--timeout', '120');
	my $got = 0;
	for (1 .. 60) {
		for my $f (glob "$sinkdir/*") {
			$got = 1 if (read_file($f) // '') =~ /\Q$subject\E/;
		}
		last if $got || $rc != 0;
		sleep 1;
	}
	return ($rc, $out . $err, $got);
}

# --- a running appliance ----------------------------------------------------
# MxQemu->boot(disk => F, firmware => bios|uefi, port => P, sink => S,
#              log => FILE, accel => tcg|kvm|auto, format => raw|vpc|qcow2,
#              spare_nic => 1 (a NIC before the real one: eth0; see monitor),
#              cdrom => ISO (a CD-ROM: a cloud-init seed),
#              extra_disk => FILE (a second, read-only disk: /dev/vdb))
# accel defaults to $ACCEL, else tcg; `auto` is what `make run` does (the
# qemu.sh probe), and its one line saying which accelerator it chose is
# part of the console output.
sub boot {
	my ($class, %o) = @_;
	my @cmd = (top() . '/board/qemu-x86_64/qemu.sh',
	    '-a', $o{accel} // $ENV{ACCEL} // 'tcg', '-F', $o{format} // 'raw',
	    ($o{spare_nic} ? ('-2') : ()),
	    ($o{cdrom} ? ('-c', $o{cdrom}) : ()),
	    ($o{extra_disk} ? ('-x', $o{extra_disk}) : ()),
	    '-f', $o{firmware} // 'bios', '-p', $o{port} // free_port(),
	    '-s', $o{sink} // free_port(), $o{disk});
	my $pid = open3(my $in, my $out, undef, @cmd);
	open my $log, '>', $o{log} // '/dev/null' or die "$o{log}: $!";
	$log->autoflush(1);
	my $self = bless { pid => $pid, in => $in, out => $out, buf => '',
	    pos => 0, log => $log, t0 => time, eof => 0 }, $class;
	return $self;
}

sub elapsed { time - $_[0]{t0} }

# monitor(COMMAND): one command to the QEMU monitor multiplexed on the
# serial line (Ctrl-A c switches between console and monitor), then back
# to the console. 1 when the monitor answered with its prompt.
sub monitor {
	my ($self, $cmd) = @_;
	$self->type("\x01c");
	$self->expect(qr/\(qemu\) /, 10) or return 0;
	$self->type("$cmd\r");
	my $ok = $self->expect(qr/\(qemu\) /, 10);	# the prompt again: done
	$self->type("\x01c");
	return $ok ? 1 : 0;
}

# The hypervisor's "Shut down": QEMU's system_powerdown, an ACPI power
# button press.
sub acpi_powerdown { $_[0]->monitor('system_powerdown') }

sub _read {
	my ($self, $timeout) = @_;
	return 0 if $self->{eof};
	my $sel = IO::Select->new($self->{out});
	return 1 unless $sel->can_read($timeout);
	my $n = sysread($self->{out}, my $chunk, 65536);
	if (!$n) { $self->{eof} = 1; return 0 }
	$self->{buf} .= $chunk;
	print { $self->{log} } $chunk;
	return 1;
}

# expect(QR, SECONDS) -> the match (with captures in @{^CAPTURE}-style
# list context) or undef after the deadline or when QEMU ended
sub expect {
	my ($self, $re, $secs) = @_;
	my $deadline = time + $secs;
	while (1) {
		pos($self->{buf}) = $self->{pos};
		if ($self->{buf} =~ /$re/g) {
			$self->{pos} = pos($self->{buf});
			return wantarray ? ($&, $1, $2) : $&;
		}
		my $left = $deadline - time;
		return undef if $left <= 0;
		$self->_read($left > 1 ? 1 : $left) or return undef;
	}
}

sub type {
	my ($self, $text) = @_;
	local $SIG{PIPE} = 'IGNORE';	# QEMU may have exited (poweroff)
	for my $ch (split //, $text) {
		syswrite($self->{in}, $ch);
		sleep 0.01;
	}
}

# _login_as_admin(DEADLINE): press Enter until getty shows its login
# prompt, then type admin; false when no prompt came
sub _login_as_admin {
	my ($self, $deadline, $password) = @_;
	my $prompt;
	while (!$prompt && time < $deadline) {
		$self->type("\r");
		$prompt = $self->expect(qr/login: /, 10);
	}
	return 0 unless $prompt;
	$self->type("admin\r");
	return 1 unless defined $password;
	$self->expect(qr/Password: /, 60) // return 0;
	$self->type("$password\r");
	return 1;
}

# login(SECONDS[, PASSWORD]): log in as admin (no password on a first
# boot, else PASSWORD), and go from the console menu to the maintenance
# shell (entry 9), leaving the first-boot setup with Ctrl-D when an
# unconfigured appliance starts it; wait for the shell prompt
sub login {
	my ($self, $secs, $password) = @_;
	my $deadline = time + $secs;
	$self->_login_as_admin($deadline, $password) or return 0;
	while (time < $deadline) {
		my $m = $self->expect(qr/mxgate:\S*# |choice \[0-9, u\]: |mxgate setup: a few questions/, 60)
		    // return 0;
		return 1 if $m =~ /# $/;
		$self->type($m =~ /choice/ ? "9\r" : "\x04");
	}
	return 0;
}

# menu_login(SECONDS[, PASSWORD]): log in as admin and stop at the first
# thing the console shows (the menu, or setup on an unconfigured
# appliance); the text it matched
sub menu_login {
	my ($self, $secs, $password) = @_;
	$self->_login_as_admin(time + $secs, $password) or return undef;
	return $self->expect(qr/choice \[0-9, u\]: |mxgate setup: a few questions/, 60);
}

# boot_stages(SECONDS) -> (kernel, init, services, total): seconds from
# power-on until init runs (firmware, loader, kernel), from there until
# init starts the services (fsck or, on a first boot, the data partition,
# mounts, firewall, seeds), from there until the console says the relay is
# ready, and the sum; () when a stage does not come within SECONDS. The
# lines in between stay in output() for the caller to check.
sub boot_stages {
	my ($self, $secs) = @_;
	my @t;
	for my $re (qr/mxgate-init: mxgate \S+ booting/,
	    qr/mxgate-init: starting services/,
	    qr/mxgate: ready: SMTP listening on port 25/) {
		$self->expect($re, $secs) // return ();
		push @t, $self->elapsed;
	}
	return ($t[0], $t[1] - $t[0], $t[2] - $t[1], $t[2]);
}

# run_cmd(CMD, SECONDS) -> the output between two markers
sub run_cmd {
	my ($self, $cmd, $secs) = @_;
	my $tag = sprintf 'MX%06d', int(rand 1e6);
	$self->type("echo ${tag}B; $cmd; echo ${tag}E\r");
	$self->expect(qr/^${tag}B\r?\n/m, $secs) // return undef;
	my $m = $self->expect(qr/^(.*?)${tag}E/ms, $secs) // return undef;
	$m =~ s/${tag}E$//;
	$m =~ s/\r//g;
	return $m;
}

# wait_exit(SECONDS) -> QEMU's exit status, or undef (then it is killed)
sub wait_exit {
	my ($self, $secs) = @_;
	my $deadline = time + $secs;
	while (time < $deadline) {
		$self->_read(0.5);
		my $r = waitpid($self->{pid}, WNOHANG);
		if ($r == $self->{pid}) { $self->{done} = 1; return $? >> 8 }
	}
	$self->kill;
	return undef;
}

# QEMU runs as a child of qemu.sh (which may start it twice): a signal
# for the VM goes to that child, not only to the script
sub _children {
	my ($pid) = @_;
	my @kids;
	for my $stat (glob('/proc/[0-9]*/stat')) {
		my $s = MxTest::read_file($stat) // next;
		push @kids, $1 if $s =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pid;
	}
	return @kids;
}

sub kill {
	my $self = shift;
	return if $self->{done};
	CORE::kill('TERM', _children($self->{pid}), $self->{pid});
	waitpid($self->{pid}, 0);
	$self->{done} = 1;
}

# power_cut(): SIGKILL to QEMU itself: no shutdown, no flush of the guest's
# caches (what the host's page cache already has stays, as with a VM whose
# host keeps running)
sub power_cut {
	my $self = shift;
	return if $self->{done};
	CORE::kill('KILL', _children($self->{pid}));
	$self->wait_exit(30);
}

sub output { $_[0]{buf} }

sub DESTROY { $_[0]->kill }

1;
