from data4r2.cli.main import run

run()
