from pathlib import Path

import pytest

from openrs.base.errors import ConfigError
from openrs.train.launch import accelerate_command


def test_accelerate_command_for_the_paper_node(tmp_path, job):
    node = job("+experiment=exp2", "hardware=a40x4", "hardware.num_machines=2", "hardware.machine_rank=1",
               "hardware.main_process_ip=10.0.0.1", "hardware.main_process_port=29500",
               output_dir=str(tmp_path))  # fmt: skip
    cmd = accelerate_command(node, tmp_path / "job.yaml", None)
    args = dict(zip(cmd[3::], cmd[4::], strict=False))
    assert args["--num_processes"] == "6" and args["--num_machines"] == "2" and args["--machine_rank"] == "1"
    assert args["--main_process_ip"] == "10.0.0.1" and args["--main_process_port"] == "29500"
    assert args["--mixed_precision"] == "bf16"
    assert args["--deepspeed_config_file"].endswith("conf/deepspeed/zero2.json")
    assert Path(args["--deepspeed_config_file"]).is_file()
    assert cmd[-3:] == ["-m", "openrs.train", str(tmp_path / "job.yaml")]


def test_jobs_use_the_gpus_they_were_given(tmp_path, monkeypatch, job):
    from openrs.train.launch import visible_gpus, with_ports

    exp2 = job("+experiment=exp2", "hardware=a40x4", output_dir=str(tmp_path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")  # a GPU slot or a SLURM allocation
    assert visible_gpus(exp2.hardware) == ["4", "5", "6", "7"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with pytest.raises(ConfigError, match="gpus_per_machine=4 but CUDA_VISIBLE_DEVICES='4,5' gives this job 2 GPUs"):
        visible_gpus(exp2.hardware)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus(exp2.hardware) == ["0", "1", "2", "3"]
    hw = with_ports(exp2).hardware  # free ports, so jobs side by side on one node never collide
    assert len({hw.main_process_port, hw.vllm_server_port, hw.vllm_group_port}) == 3
    two = job("+experiment=exp2", "hardware=a40x4", "hardware.num_machines=2", "hardware.main_process_port=29500",
              output_dir=str(tmp_path))  # fmt: skip
    assert with_ports(two).hardware.main_process_port == 29500  # machines must agree on it
    with pytest.raises(ConfigError, match="num_machines=2 needs hardware.main_process_port"):
        job("+experiment=exp2", "hardware=a40x4", "hardware.num_machines=2")
