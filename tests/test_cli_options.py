"""Out-of-range options are refused by the parser, before any model loads or data is read: one line
naming the option, exit 2, never a traceback or a server that cannot work (every request refused,
every session timed out, no action asked)."""
import pytest

from marginlive.cli import main


@pytest.mark.parametrize("argv, message", [
    (["detect", "v.mp4", "--max-frames", "0"], "argument --max-frames: a whole number of at least 1, got '0'"),
    (["train", "DS", "--val-frac", "1.5"], "argument --val-frac: a share from 0 up to (not including) 1, got '1.5'"),
    (["train", "DS", "--val-frac", "-0.5"], "argument --val-frac: a share"),
    (["train", "DS", "--lr", "-1"], "argument --lr: a number above 0, got '-1'"),
    (["train", "DS", "--lr", "nan"], "argument --lr: a number above 0, got 'nan'"),
    (["train", "DS", "--weight-decay", "-1"], "argument --weight-decay: a number of at least 0"),
    (["train", "DS", "--epochs", "0"], "argument --epochs: a whole number of at least 1"),
    (["train", "DS", "--batch", "two"], "argument --batch: a whole number of at least 1, got 'two'"),
    (["experiment", "margin", "DS", "--epochs", "0"], "argument --epochs: a whole number of at least 1"),
    (["distil", "DS", "--sources", "S", "--out", "m.onnx", "--epochs", "0"], "argument --epochs"),
    (["identify", "x.jpg", "--threshold", "-3"], "argument --threshold: a number above 0"),
    (["verify", "alice", "x.jpg", "--threshold", "inf"], "argument --threshold: a number above 0, got 'inf'"),
    (["authenticate", "x.mp4", "--challenges", "0"], "argument --challenges: a whole number of at least 1"),
    (["authenticate", "x.mp4", "--challenge-timeout", "0"], "argument --challenge-timeout: a number above 0"),
    (["serve", "--challenges", "0"], "argument --challenges: a whole number of at least 1"),
    (["serve", "--challenge-timeout", "-8"], "argument --challenge-timeout: a number above 0"),
    (["serve", "--rate", "0"], "argument --rate: a number above 0"),
    (["serve", "--burst", "0"], "argument --burst: a whole number of at least 1"),
    (["serve", "--max-failures", "0"], "argument --max-failures: a whole number of at least 1"),
    (["serve", "--frame-threads", "0"], "argument --frame-threads: a whole number of at least 1"),
    (["serve", "--max-connections-per-address", "0"], "argument --max-connections-per-address: a whole number of at least 1"),
    (["serve", "--drain-timeout", "-1"], "argument --drain-timeout: a number of at least 0, got '-1'"),
])
def test_an_option_out_of_range_is_refused_by_the_parser(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["train", "DS", "--cv", "1"], "--cv is a number of folds, at least 2 (0: none), got 1"),
    (["experiment", "margin", "DS", "--folds", "1"], "--folds must be at least 2"),
])
def test_a_number_of_folds_below_two_is_refused_before_the_data_is_read(capsys, tmp_path, argv, message):
    argv = [str(tmp_path / "missing") if x == "DS" else x for x in argv]
    assert main([*argv, "--out", str(tmp_path / "m.onnx")] if argv[0] == "train" else argv) != 0
    err = capsys.readouterr().err
    assert message in err and "no manifest" not in err


def test_the_help_lists_what_a_user_runs_before_what_builds_models(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("COMMAND\n", 1)[1].split("options:")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed[0] == "detect" and listed.index("serve") < listed.index("collect") < listed.index("train")
    assert "Start with `marginlive detect photo.jpg`" in out
